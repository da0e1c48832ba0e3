"""The Python marts: one module per mart, each turning rows of the SQL marts
into the mart's frame by calling ``xpkit.stats``. Frames only at the edge."""
