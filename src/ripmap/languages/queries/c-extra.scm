; ripmap: additions for C and C++ (node types both grammars share). The grammar
; wheels' tags.scm files have definitions only, which left C/C++ files without any
; call or type references to rank by.

; calls: grow(buf, n), buf->ops->flush(buf), obj.run()
(call_expression function: (identifier) @name) @reference.call
(call_expression
  function: (field_expression field: (field_identifier) @name)) @reference.call

; uses of named types: Buffer *buf, (Status)x, sizeof(Buffer)
(type_identifier) @name @reference.type

; unions declared without a variable (`union U { int a; float b; };`): the shipped
; query only tags unions that declare one
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
