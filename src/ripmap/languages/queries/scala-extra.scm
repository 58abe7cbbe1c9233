; ripmap's additions to the tree-sitter-scala tags query, whose references are calls by
; plain name (`f(x)`), `new T` and `extends T` only: it never references a method called
; on a value (`Json.fromString(s)`, `xs.map(f)`), nor a type written anywhere else.

; method calls: `Json.fromString(s)`, `c.downField("a").as[Int]`. (Member reads that are
; not calls, `j.noSpaces`, were tried as references too: on os-lib and circe they lowered
; what these gain, A +0.002 against +0.008 and A+msg +0.010 against +0.014.)
(call_expression function: (field_expression field: (identifier) @name)) @reference.call

; the object a member is read from, written as a type is (`Encoder.instance`, `Json.Null`):
; capitalized, where values are lower camelCase in Scala
((field_expression value: (identifier) @name) @reference.member
  (#match? @name "^[A-Z]"))

; named types: parameters, results, fields, type arguments, with clauses
(parameter type: (type_identifier) @name) @reference.type
(function_definition return_type: (type_identifier) @name) @reference.type
(function_declaration return_type: (type_identifier) @name) @reference.type
(generic_type type: (type_identifier) @name) @reference.type
(type_arguments (type_identifier) @name) @reference.type
(val_definition type: (type_identifier) @name) @reference.type
(val_declaration type: (type_identifier) @name) @reference.type
(class_parameter type: (type_identifier) @name) @reference.type
