; ripmap's additions to the tree-sitter-c-sharp tags query, which defines classes,
; interfaces, methods and namespaces only, and references only `x.Method()` calls and a
; few type positions. A C# library's surface is mostly properties (Serilog's
; `LoggerConfiguration` is `WriteTo`, `MinimumLevel`, `Enrich`, `ReadFrom` ...), its
; value types structs, enums and records, and most calls are plain `Method(x)`.

; types: `struct S`, `enum Color`, `record Person(string Name)`, `delegate void H(int x)`
(struct_declaration name: (identifier) @name) @definition.struct
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
(delegate_declaration name: (identifier) @name) @definition.type

; members: constructors, properties (`int Prop { get; set; }`, `X ReadFrom => ...`),
; events, enum members, and fields others can see
(constructor_declaration name: (identifier) @name) @definition.method
(property_declaration name: (identifier) @name) @definition.property
(event_field_declaration
  (variable_declaration (variable_declarator name: (identifier) @name))) @definition.property
(enum_member_declaration name: (identifier) @name) @definition.constant
; a field only where other code can see it (or a constant): a class's private state
; (`private readonly List<ILogEventSink> _sinks`) filled Serilog's map ahead of its properties
((field_declaration
  (modifier) @_visible
  (variable_declaration (variable_declarator name: (identifier) @name))) @definition.field
  (#any-of? @_visible "public" "protected" "internal" "const"))

; calls by plain name, `Foo(a)`, and generic ones, `Parse<int>(s)`, `x.Get<T>()`
(invocation_expression function: (identifier) @name) @reference.call
(invocation_expression function: (generic_name (identifier) @name)) @reference.call
(invocation_expression
  function: (member_access_expression name: (generic_name (identifier) @name))) @reference.call

; member reads that are not calls: `options.MinimumLevel`, `Log.Logger`; and what a
; member is read from when it is written as a type is (`Log`, `Helper.Make(x)`,
; `Color.Red`): PascalCase, where locals and parameters are camelCase in C#
(member_access_expression name: (identifier) @name) @reference.member
((member_access_expression expression: (identifier) @name) @reference.member
  (#match? @name "^[A-Z]"))

; named types wherever they are written: parameters, returns, fields, generic arguments,
; `new Widget()`, `typeof(Widget)`, casts
(parameter type: (identifier) @name) @reference.type
(method_declaration returns: (identifier) @name) @reference.type
(property_declaration type: (identifier) @name) @reference.type
(type_argument_list (identifier) @name) @reference.type
(generic_name (identifier) @name) @reference.type
(object_creation_expression type: (generic_name (identifier) @name)) @reference.class
(typeof_expression type: (identifier) @name) @reference.type
(cast_expression type: (identifier) @name) @reference.type
(attribute name: (identifier) @name) @reference.class
