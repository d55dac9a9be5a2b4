using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.Clip.Datasets.Manifest;

/// <summary>
/// Reads delimited records (RFC 4180 quoting: a field in double quotes may hold the separator, line breaks
/// and doubled quotes) one at a time from a text reader.
/// </summary>
internal sealed class CsvFieldReader
{
    private readonly TextReader _reader;
    private readonly char _separator;

    public CsvFieldReader(TextReader reader, char separator)
    {
        _reader = reader;
        _separator = separator;
    }

    /// <summary>1-based number of the line the last record started on.</summary>
    public long RecordLine { get; private set; }

    private long _line;

    /// <summary>The next record's fields, or null at the end; <paramref name="problem"/> is set for an unterminated quote.</summary>
    public List<string>? Next(out string? problem)
    {
        problem = null;
        string? line;
        do
        {
            line = _reader.ReadLine();
            if (line is null)
                return null;
            _line++;
        }
        while (line.Length == 0);
        RecordLine = _line;

        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false, wasQuoted = false;
        int i = 0;
        while (true)
        {
            if (i == line.Length)
            {
                if (!quoted)
                    break;
                string? more = _reader.ReadLine();
                if (more is null)
                {
                    problem = "a quoted field is not closed before the end of the file";
                    break;
                }
                _line++;
                field.Append('\n');
                line = more;
                i = 0;
                continue;
            }
            char c = line[i++];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i < line.Length && line[i] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == _separator)
            {
                fields.Add(wasQuoted ? field.ToString() : field.ToString().Trim());
                field.Clear();
                wasQuoted = false;
            }
            else if (c == '"' && field.ToString().Trim().Length == 0)
            {
                field.Clear();
                quoted = wasQuoted = true;
            }
            else
            {
                field.Append(c);
            }
        }
        fields.Add(wasQuoted ? field.ToString() : field.ToString().Trim());
        return fields;
    }
}
