using System;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// GPT-2's <c>bytes_to_unicode</c> table, which CLIP's BPE also uses: every byte gets a printable character so
/// that merges can be written as text. Printable Latin-1 bytes map to themselves; the other 68 bytes (controls,
/// space, DEL, NBSP, soft hyphen...) map, in byte order, to U+0100, U+0101, ...
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>Characters in the order CLIP's vocabulary lists them: the self-mapped bytes first, then the others.</summary>
    public static readonly char[] SymbolsInVocabularyOrder;

    /// <summary>Byte value → its character.</summary>
    public static readonly char[] ByteToChar = new char[256];

    // Character → byte, indexed by character; -1 where the character is not in the alphabet. The alphabet ends
    // at U+0143 (256 + 67), so a small array beats a dictionary.
    private static readonly short[] _charToByte;

    static ByteLevelAlphabet()
    {
        var order = new char[256];
        int count = 0;
        for (int b = 0; b < 256; b++)
            if (IsSelfMapped(b)) { ByteToChar[b] = (char)b; order[count++] = (char)b; }
        int next = 256;
        for (int b = 0; b < 256; b++)
            if (!IsSelfMapped(b)) { ByteToChar[b] = (char)next++; order[count++] = ByteToChar[b]; }
        SymbolsInVocabularyOrder = order;

        _charToByte = new short[next];
        Array.Fill(_charToByte, (short)-1);
        for (int b = 0; b < 256; b++) _charToByte[ByteToChar[b]] = (short)b;
    }

    /// <summary>The byte a symbol stands for, or -1 when <paramref name="c"/> is not one of the 256 symbols.</summary>
    public static int CharToByte(char c) => c < _charToByte.Length ? _charToByte[c] : -1;

    // '!'..'~', '¡'..'¬', '®'..'ÿ': the bytes that are already visible, unambiguous characters.
    private static bool IsSelfMapped(int b) => b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
}
