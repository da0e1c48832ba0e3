-- One row per problem in the registry seeds (file, row key, problem, fix). Its
-- has_no_rows test fails the build and prints every row; every model that reads
-- the registry depends on this one, so a broken registry stops the build early.
{{ experimentation.registry_problems() }}
