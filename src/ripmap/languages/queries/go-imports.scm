; ripmap: packages a Go file imports (kind "import").
(import_spec path: (interpreted_string_literal) @name) @reference.import
