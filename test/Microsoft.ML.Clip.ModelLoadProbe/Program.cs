// Usage: ModelLoadProbe <model.zip> <input.idv> <output.idv>
// Loads the model with a plain MLContext.Model.Load, applies it to the input (ML.NET binary IDataView) and
// writes every output column to output.idv. Exit code 0 on success; errors go to stderr.
using System;
using System.IO;
using System.Linq;
using Microsoft.ML;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: ModelLoadProbe <model.zip> <input.idv> <output.idv>");
    return 2;
}

var mlContext = new MLContext(seed: 0);
ITransformer model = mlContext.Model.Load(args[0], out var inputSchema);
IDataView input = mlContext.Data.LoadFromBinary(args[1]);
IDataView output = model.Transform(input);
using (var stream = File.Create(args[2]))
    mlContext.Data.SaveAsBinary(output, stream);

Console.WriteLine($"loaded {args[0]}: {model.GetType().Name}; input columns [{string.Join(", ", inputSchema.Select(c => c.Name))}]; " +
                  $"output columns [{string.Join(", ", output.Schema.Select(c => c.Name))}]");
return 0;
