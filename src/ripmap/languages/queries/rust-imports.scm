; ripmap: modules a Rust file uses (kind "import"): the path of `use a::b::C;`, the module
; path of `use a::b::{C, D};` and `use a::b::*;`, the path of `use a::b as c;`. (A `mod x;`
; declaration is the module's definition, which a reference may not share a name with.)
(use_declaration argument: (scoped_identifier) @name) @reference.import
(use_declaration argument: (scoped_use_list path: (_) @name)) @reference.import
(use_declaration argument: (use_wildcard (_) @name)) @reference.import
(use_declaration argument: (use_as_clause path: (_) @name)) @reference.import
