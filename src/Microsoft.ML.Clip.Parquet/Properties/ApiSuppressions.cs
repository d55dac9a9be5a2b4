using System.Diagnostics.CodeAnalysis;

// RS0026 (several overloads with optional parameters) is suppressed only for the members below, each overload pair
// telling its calls apart by the type of a required parameter; every other public member stays under the rule.
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Several files or one (first required parameter): no call is ambiguous; later settings go into the options object.", Scope = "member", Target = "~M:Microsoft.ML.Clip.ParquetDataLoaders.LoadFromImageTextParquet(Microsoft.ML.DataOperationsCatalog,System.Collections.Generic.IEnumerable{System.String},Microsoft.ML.Clip.Datasets.ParquetImageTextOptions)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Several files or one (first required parameter): no call is ambiguous; later settings go into the options object.", Scope = "member", Target = "~M:Microsoft.ML.Clip.ParquetDataLoaders.LoadFromImageTextParquet(Microsoft.ML.DataOperationsCatalog,System.String,Microsoft.ML.Clip.Datasets.ParquetImageTextOptions)")]
