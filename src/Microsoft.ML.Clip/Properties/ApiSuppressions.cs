using System.Diagnostics.CodeAnalysis;

// RS0026 (several overloads with optional parameters) is suppressed only for the members below, each overload pair
// telling its calls apart by the type of a required parameter; every other public member stays under the rule.
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Shard paths or a folder (first required parameter): no call is ambiguous; later settings go into the options object.", Scope = "member", Target = "~M:Microsoft.ML.Clip.ClipDataLoaders.LoadFromWebDataset(Microsoft.ML.DataOperationsCatalog,System.Collections.Generic.IEnumerable{System.String},Microsoft.ML.Clip.Datasets.WebDatasetOptions)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Shard paths or a folder (first required parameter): no call is ambiguous; later settings go into the options object.", Scope = "member", Target = "~M:Microsoft.ML.Clip.ClipDataLoaders.LoadFromWebDataset(Microsoft.ML.DataOperationsCatalog,System.String,Microsoft.ML.Clip.Datasets.WebDatasetOptions)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Embedding columns, or a ClipModelBundle that encodes the pairs (third parameter): the two are told apart by type.", Scope = "member", Target = "~M:Microsoft.ML.Clip.RetrievalCatalog.EvaluateRetrieval(Microsoft.ML.MLContext,Microsoft.ML.IDataView,System.String,System.String,System.Int32,System.Func{TorchSharp.torch.Tensor,TorchSharp.torch.Tensor,TorchSharp.torch.Tensor},TorchSharp.torch.Device)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Embedding columns, or a ClipModelBundle that encodes the pairs (third parameter): the two are told apart by type.", Scope = "member", Target = "~M:Microsoft.ML.Clip.RetrievalCatalog.EvaluateRetrieval(Microsoft.ML.MLContext,Microsoft.ML.IDataView,Microsoft.ML.Clip.ClipModelBundle,System.String,System.String,System.Int32,System.Int32)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Options only (CLIP's loss), or a loss to wrap first: the first parameter's type tells them apart.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Training.Objectives.Flip.FlipObjective.#ctor(Microsoft.ML.Clip.Training.Objectives.Flip.FlipOptions)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "Options only (CLIP's loss), or a loss to wrap first: the first parameter's type tells them apart.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Training.Objectives.Flip.FlipObjective.#ctor(Microsoft.ML.Clip.Training.Objectives.ClipObjective,Microsoft.ML.Clip.Training.Objectives.Flip.FlipOptions)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "A path or a stream (first parameter): no call is ambiguous.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Weights.SafeTensors.Load(System.String,System.Int64)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "A path or a stream (first parameter): no call is ambiguous.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Weights.SafeTensors.Load(System.IO.Stream,System.String,System.Int64)")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "A stream or a path (second parameter): no call is ambiguous.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Weights.SafeTensors.Save(System.Collections.Generic.IEnumerable{System.Collections.Generic.KeyValuePair{System.String,TorchSharp.torch.Tensor}},System.IO.Stream,System.Collections.Generic.IReadOnlyDictionary{System.String,System.String})")]
[assembly: SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
    Justification = "A stream or a path (second parameter): no call is ambiguous.", Scope = "member", Target = "~M:Microsoft.ML.Clip.Weights.SafeTensors.Save(System.Collections.Generic.IEnumerable{System.Collections.Generic.KeyValuePair{System.String,TorchSharp.torch.Tensor}},System.String,System.Collections.Generic.IReadOnlyDictionary{System.String,System.String})")]
