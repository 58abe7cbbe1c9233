; ripmap: C++-only additions (after c-extra.scm).

; calls through a namespace or class: geo::area(c), Box<int>::make(2)
(call_expression
  function: (qualified_identifier name: (identifier) @name)) @reference.call
(call_expression
  function: (qualified_identifier name: (template_function name: (identifier) @name))) @reference.call
; template calls: make_unique<Foo>(x), obj.get<T>()
(call_expression function: (template_function name: (identifier) @name)) @reference.call
(call_expression
  function: (field_expression field: (template_method name: (field_identifier) @name))) @reference.call
; construction: new Box(1)
(new_expression type: (type_identifier) @name) @reference.class

; out-of-line members of class templates: Box<T>* Box<T>::make(int n) {...}
(function_declarator
  declarator: (qualified_identifier
    scope: (template_type) name: (identifier) @name)) @definition.method

; a template parameter's declaration (`template <typename T>`) is no use of a type
(type_parameter_declaration (type_identifier) @ignore)

; namespaces, as parents of what they hold: namespace geometry { ... }
(namespace_definition name: (namespace_identifier) @name) @definition.module

; a nested class defined out of line (class DFA::Workq : public SparseSet { ... }): the
; parent of its members; without it they fell to the enclosing namespace
(class_specifier name: (qualified_identifier name: (type_identifier) @name) body: (_)) @definition.class
(struct_specifier name: (qualified_identifier name: (type_identifier) @name) body: (_)) @definition.class
