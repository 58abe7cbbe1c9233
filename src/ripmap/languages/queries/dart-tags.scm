; ripmap's tags query for Dart (tree-sitter-dart), used INSTEAD of the wheel's
; queries/tags.scm.
;
; Why not the shipped query: its reference pattern is a bare `(identifier) @name`
; followed only by optional parts (`(selector ...)*`, `(cascade_section ...)?`), so
; under any query engine, the Python bindings included, it matches every identifier:
; parameters, locals and field reads all come out as call references. A shipped
; query file can only be used whole (ripmap does not copy or patch shipped queries),
; so this file covers both definitions and references itself.
;
; Spans: a Dart function's body is the `function_body` *sibling* that follows its
; signature node; the extractor extends `*_signature` definitions over it.

; ---- definitions --------------------------------------------------------------

(class_definition name: (identifier) @name) @definition.class
(enum_declaration name: (identifier) @name) @definition.enum
(extension_declaration name: (identifier) @name) @definition.extension
(mixin_declaration (mixin) . (identifier) @name) @definition.mixin

; typedef Json = Map<String, dynamic>;  typedef Cb<T> = ...;  typedef void Cb(int x);
(type_alias (type_identifier) @name . "=") @definition.type
(type_alias (type_identifier) @name . (type_parameters)) @definition.type
(type_alias (type_identifier) @name . (formal_parameter_list)) @definition.type

; top-level functions, getters and setters (their body is the next sibling)
(program (function_signature name: (identifier) @name) @definition.function)
(program (getter_signature name: (identifier) @name) @definition.function)
(program (setter_signature name: (identifier) @name) @definition.function)

; methods with a body: class/mixin/extension/enum members
(method_signature
  [(function_signature name: (identifier) @name)
   (getter_signature name: (identifier) @name)
   (setter_signature name: (identifier) @name)]) @definition.method

; named and factory constructors: Widget.from(...), factory Base.create()
(method_signature
  (constructor_signature name: (identifier) "." name: (identifier) @name)) @definition.method
(method_signature
  (factory_constructor_signature (identifier) "." (identifier) @name)) @definition.method
(declaration
  (constructor_signature name: (identifier) "." name: (identifier) @name) @definition.method)
(declaration
  (factory_constructor_signature (identifier) "." (identifier) @name) @definition.method)

; body-less members (abstract methods, external declarations): a function in a
; class body is re-kinded method by the extractor
(declaration
  [(function_signature name: (identifier) @name)
   (getter_signature name: (identifier) @name)
   (setter_signature name: (identifier) @name)] @definition.function)

; local functions: int g(int a) => a;
(local_function_declaration
  (lambda_expression
    parameters: (function_signature name: (identifier) @name)) @definition.function)

; ---- references ---------------------------------------------------------------

; calls: helper(x), Circle(1)  — an identifier directly followed by arguments
((identifier) @name @reference.call
  .
  (selector (argument_part)))

; method calls: s.area(), foo?.bar(x)
((selector (unconditional_assignable_selector (identifier) @name @reference.call))
  .
  (selector (argument_part)))
((selector (conditional_assignable_selector (identifier) @name @reference.call))
  .
  (selector (argument_part)))

; cascades: items..add('a')
(cascade_section
  (cascade_selector (identifier) @name @reference.call)
  .
  (argument_part))

; super.named(1) in an initializer list
(initializer_list_entry (super) (identifier) @name @reference.call)

; instance creation: new Widget(x), const Point(1, 2)
(new_expression (type_identifier) @name @reference.class)
(const_object_expression (type_identifier) @name @reference.class)

; every use of a type: annotations, extends/with/implements, type arguments
(type_identifier) @name @reference.type

; imported libraries (kind "import", for import-aware resolution)
(import_specification
  (configurable_uri (uri (string_literal) @name))) @reference.import

; a type parameter's declaration (`class Box<T>`) is no use of a type
(type_parameter (type_identifier) @ignore)
