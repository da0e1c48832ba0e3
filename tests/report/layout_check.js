// The layout check of tests/report/test_report_layout.py: runs in the harness
// page once every iframe has loaded and writes one finding per defect into
// a "pre" element with the id "layout".
function measure(name, doc) {
  const found = [];
  const root = doc.documentElement;
  if (root.scrollWidth > root.clientWidth) {
    found.push(`${name}: the page scrolls sideways (${root.scrollWidth} > ${root.clientWidth} px)`);
  }
  doc.querySelectorAll("table").forEach((table, i) => {
    for (const box of [table, table.parentElement]) {
      if (box.scrollWidth > box.clientWidth + 1) {
        const head = (table.querySelector("th") || table).textContent.trim().slice(0, 30);
        found.push(`${name}: table ${i} ("${head}") scrolls sideways (${box.scrollWidth} > ${box.clientWidth} px)`);
        break;
      }
    }
  });
  doc.querySelectorAll("svg").forEach((svg, i) => {
    const frame = svg.getBoundingClientRect();
    const title = (svg.querySelector("title") || {textContent: ""}).textContent.slice(0, 40);
    const boxes = [];
    svg.querySelectorAll("text").forEach((text) => {
      const r = text.getBoundingClientRect();
      if (r.width < 0.5 || r.height < 0.5 || !text.textContent.trim()) return;
      boxes.push({t: text.textContent.trim(), r: r});
      if (r.left < frame.left - 1 || r.right > frame.right + 1 ||
          r.top < frame.top - 1 || r.bottom > frame.bottom + 1) {
        found.push(`${name}: svg ${i} ("${title}"): "${text.textContent.trim()}" runs outside the chart`);
      }
    });
    for (let a = 0; a < boxes.length; a++) {
      for (let b = a + 1; b < boxes.length; b++) {
        const p = boxes[a].r, q = boxes[b].r;
        const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
        const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
        // Line boxes of stacked text touch; ink overlaps beyond a pixel or two.
        if (w > 1 && h > 2) {
          found.push(`${name}: svg ${i} ("${title}"): "${boxes[a].t}" overlaps "${boxes[b].t}"`);
        }
      }
    }
  });
  return found;
}
window.addEventListener("load", () => {
  const found = [];
  let pages = 0;
  document.querySelectorAll("iframe").forEach((frame) => {
    pages += 1;
    found.push(...measure(frame.getAttribute("src"), frame.contentDocument));
  });
  const out = document.createElement("pre");
  out.id = "layout";
  out.textContent = JSON.stringify({pages: pages, found: found});
  document.body.appendChild(out);
});
