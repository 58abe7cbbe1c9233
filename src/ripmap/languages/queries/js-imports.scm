; ripmap: modules a JavaScript/TypeScript file imports (kind "import"), for
; import-aware reference resolution. The grammar wheels' tags.scm has none.
(import_statement source: (string (string_fragment) @name)) @reference.import
(export_statement source: (string (string_fragment) @name)) @reference.import
(call_expression
  function: (identifier) @_require
  arguments: (arguments . (string (string_fragment) @name))
  (#eq? @_require "require")) @reference.import
