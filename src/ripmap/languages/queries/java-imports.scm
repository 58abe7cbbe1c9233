; ripmap: classes and packages a Java file imports (kind "import").
(import_declaration (scoped_identifier) @name) @reference.import
