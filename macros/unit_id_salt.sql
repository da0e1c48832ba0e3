{% macro unit_id_salt() -%}
    {#- The salt for pseudonymising unit ids, from the environment variable
        XP_UNIT_ID_SALT; empty when unset (ids are kept as they are). The salt
        is validated here and never echoed: it must be at least 16 characters
        from A-Z a-z 0-9 + / = _ . - (e.g. `openssl rand -hex 32`), so that it
        needs no quoting on any engine and resists guessing. -#}
    {%- set salt = env_var('XP_UNIT_ID_SALT', '') -%}
    {%- if salt and not modules.re.fullmatch('[A-Za-z0-9+/=_.-]{16,}', salt) -%}
        {{ exceptions.raise_compiler_error(
            "XP_UNIT_ID_SALT must be at least 16 characters from A-Z a-z 0-9 + / = _ . - "
            ~ "(for example the output of `openssl rand -hex 32`); the value given is not "
            ~ "shown. Fix it or unset XP_UNIT_ID_SALT to keep unit ids as they are."
        ) }}
    {%- endif -%}
    {{ return(salt) }}
{%- endmacro %}
