using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace Microsoft.ML.Clip.Transforms;

/// <summary>
/// The check of a column that must hold known-size vectors of <see cref="float"/> (embeddings, features), with one
/// message for every stage that reads such columns: ML.NET's schema-mismatch error naming the column's role, its name,
/// the type expected and the type found.
/// </summary>
internal static class FloatVectorColumn
{
    private const string Expected = "known-size vector of Single (Vector<Single, n>)";

    /// <summary>
    /// The column <paramref name="name"/> of <paramref name="schema"/> and its vector size; throws unless it is a known-size
    /// vector of Single (of <paramref name="size"/> floats when given).
    /// </summary>
    /// <param name="ectx">Where the error is raised (the stage's host).</param>
    /// <param name="schema">The schema read.</param>
    /// <param name="name">The column.</param>
    /// <param name="role">What the column is to the stage (<c>feature</c>, <c>image embedding</c>, ...), for the message.</param>
    /// <param name="size">The vector size needed, or null for any known size.</param>
    /// <param name="parameterName">The argument the schema came from.</param>
    public static (DataViewSchema.Column Column, int Size) Find(IExceptionContext ectx, DataViewSchema schema, string name, string role,
        int? size = null, string parameterName = "schema")
    {
        var column = schema.GetColumnOrNull(name) ?? throw ectx.ExceptSchemaMismatch(parameterName, role, name);
        if (column.Type is not VectorDataViewType { IsKnownSize: true } vector || vector.ItemType != NumberDataViewType.Single
            || (size is int n && vector.Size != n))
            throw ectx.ExceptSchemaMismatch(parameterName, role, name, ExpectedType(size), column.Type.ToString());
        return (column, vector.Size);
    }

    /// <summary>The same check on an estimator's <see cref="SchemaShape"/> (where a known size is all a shape says).</summary>
    public static void Check(IExceptionContext ectx, SchemaShape schema, string name, string role, int? size = null, string parameterName = "inputSchema")
    {
        if (!schema.TryFindColumn(name, out var column))
            throw ectx.ExceptSchemaMismatch(parameterName, role, name);
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.ItemType != NumberDataViewType.Single)
            throw ectx.ExceptSchemaMismatch(parameterName, role, name, ExpectedType(size), column.GetTypeString());
    }

    private static string ExpectedType(int? size) => size is int n ? $"Vector<Single, {n}>" : Expected;
}
