; ripmap's additions to the tree-sitter-swift tags query, which has definitions only.

; calls: format(x), Circle(radius: 2)
(call_expression
  . (simple_identifier) @name) @reference.call

; method calls: canvas.add(x), obj?.compute(), Foo.shared.run()
(call_expression
  . (navigation_expression
      suffix: (navigation_suffix suffix: (simple_identifier) @name))) @reference.call

; conformances and superclasses: class Canvas: Base, Drawable
(inheritance_specifier
  inherits_from: (user_type (type_identifier) @name)) @reference.class

; every other use of a named type: annotations, generic arguments
(user_type (type_identifier) @name) @reference.type

; protocol property requirements: protocol P { var name: String { get } }
(protocol_property_declaration
  name: (pattern bound_identifier: (simple_identifier) @name)) @definition.property

; extensions as containers, like Rust's impl blocks: `extension String { ... }`,
; `extension Foo.Bar: P where T: Q { ... }`. Filed under the extended type's name, they
; define no name in the graph (the type is defined elsewhere) but hold their members, which
; the map showed at the top level of the file, with no hint of the type they extend
(class_declaration
  declaration_kind: "extension"
  name: (user_type) @name) @definition.impl
