using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Microsoft.ML.Clip.Tokenization;

/// <summary>
/// The parts of a SentencePiece model file (<c>spiece.model</c>, <c>tokenizer.model</c>: a protobuf <c>ModelProto</c>)
/// that decide how text is encoded: the pieces with their scores and types, the trainer's model type, special ids and
/// byte fallback, and the normalizer's rules. Read here rather than by Microsoft.ML.Tokenizers because its own reader
/// needs a beginning-of-sentence piece, which SigLIP's model does not have (<c>bos_id</c> −1).
/// </summary>
/// <remarks>
/// Field numbers and defaults are those of SentencePiece's <c>sentencepiece_model.proto</c>: ModelProto 1 pieces,
/// 2 trainer_spec, 3 normalizer_spec; SentencePiece 1 piece, 2 score, 3 type (default NORMAL); TrainerSpec 3 model_type
/// (default UNIGRAM), 24 treat_whitespace_as_suffix, 35 byte_fallback, 40 unk_id (0), 41 bos_id (1), 42 eos_id (2),
/// 43 pad_id (−1); NormalizerSpec 1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (true), 4 remove_extra_whitespaces
/// (true), 5 escape_whitespaces (true). Other fields are skipped by their wire type.
/// </remarks>
internal sealed class SentencePieceModelFile
{
    /// <summary>SentencePiece's piece types (<c>ModelProto.SentencePiece.Type</c>).</summary>
    public enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

    /// <summary>SentencePiece's model types (<c>TrainerSpec.ModelType</c>).</summary>
    public enum ModelType { Unigram = 1, Bpe = 2, Word = 3, Char = 4 }

    private SentencePieceModelFile(byte[] bytes) => Bytes = bytes;

    /// <summary>The file's content as read (what a saved model stores).</summary>
    public byte[] Bytes { get; }

    public List<(string Piece, float Score, PieceType Type)> Pieces { get; } = new();

    public ModelType Type { get; private set; } = ModelType.Unigram;

    public bool TreatWhitespaceAsSuffix { get; private set; }

    public bool ByteFallback { get; private set; }

    public int UnkId { get; private set; }

    public int BosId { get; private set; } = 1;

    public int EosId { get; private set; } = 2;

    public int PadId { get; private set; } = -1;

    public string NormalizerName { get; private set; } = "";

    public byte[] PrecompiledCharsmap { get; private set; } = [];

    public bool AddDummyPrefix { get; private set; } = true;

    public bool RemoveExtraWhitespaces { get; private set; } = true;

    public bool EscapeWhitespaces { get; private set; } = true;

    /// <summary>The id of the piece spelled <paramref name="piece"/>, or −1.</summary>
    public int IdOf(string piece)
    {
        for (int i = 0; i < Pieces.Count; i++)
            if (Pieces[i].Piece == piece) return i;
        return -1;
    }

    /// <summary>Parses a model file's bytes.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="source">The file's name for error messages.</param>
    /// <exception cref="InvalidDataException">The bytes are not a SentencePiece model; the message names <paramref name="source"/>.</exception>
    public static SentencePieceModelFile Parse(byte[] bytes, string source)
    {
        var model = new SentencePieceModelFile(bytes);
        try
        {
            var reader = new ProtoReader(bytes, 0, bytes.Length);
            while (reader.Next(out int field, out int wire))
            {
                switch (field)
                {
                    case 1 when wire == 2: model.ReadPiece(reader.Message()); break;
                    case 2 when wire == 2: model.ReadTrainer(reader.Message()); break;
                    case 3 when wire == 2: model.ReadNormalizer(reader.Message()); break;
                    default: reader.Skip(wire); break;
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or DecoderFallbackException or OverflowException)
        {
            throw new InvalidDataException($"'{source}' is not a SentencePiece model file (protobuf ModelProto): {ex.Message}", ex);
        }
        model.Check(source);
        return model;
    }

    private void ReadPiece(ProtoReader reader)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: piece = reader.String(); break;
                case 2 when wire == 5: score = reader.Float(); break;
                case 3 when wire == 0: type = (PieceType)reader.Varint(); break;
                default: reader.Skip(wire); break;
            }
        }
        Pieces.Add((piece, score, type));
    }

    private void ReadTrainer(ProtoReader reader)
    {
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 3 when wire == 0: Type = (ModelType)reader.Varint(); break;
                case 24 when wire == 0: TreatWhitespaceAsSuffix = reader.Varint() != 0; break;
                case 35 when wire == 0: ByteFallback = reader.Varint() != 0; break;
                case 40 when wire == 0: UnkId = (int)reader.Varint(); break;
                case 41 when wire == 0: BosId = (int)reader.Varint(); break;
                case 42 when wire == 0: EosId = (int)reader.Varint(); break;
                case 43 when wire == 0: PadId = (int)reader.Varint(); break;
                default: reader.Skip(wire); break;
            }
        }
    }

    private void ReadNormalizer(ProtoReader reader)
    {
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: NormalizerName = reader.String(); break;
                case 2 when wire == 2: PrecompiledCharsmap = reader.Bytes(); break;
                case 3 when wire == 0: AddDummyPrefix = reader.Varint() != 0; break;
                case 4 when wire == 0: RemoveExtraWhitespaces = reader.Varint() != 0; break;
                case 5 when wire == 0: EscapeWhitespaces = reader.Varint() != 0; break;
                default: reader.Skip(wire); break;
            }
        }
    }

    private void Check(string source)
    {
        if (Pieces.Count == 0)
            throw new InvalidDataException($"'{source}' holds no SentencePiece pieces; it is not a SentencePiece model file.");
        if (Type is not (ModelType.Unigram or ModelType.Bpe))
            throw new InvalidDataException($"'{source}' is a SentencePiece {Type} model; only Unigram (SigLIP's spiece.model) and BPE (Gemma's tokenizer.model) models are supported.");
        foreach (var (name, id) in new[] { ("unk_id", UnkId), ("eos_id", EosId), ("bos_id", BosId), ("pad_id", PadId) })
            if (id >= Pieces.Count || (id < 0 && name is "unk_id" or "eos_id"))
                throw new InvalidDataException($"'{source}': trainer_spec.{name} is {id}, outside the model's {Pieces.Count} pieces.");
    }

    /// <summary>A protobuf wire-format reader over one message's bytes.</summary>
    private sealed class ProtoReader(byte[] data, int start, int end)
    {
        private static readonly UTF8Encoding _strictUtf8 = new(false, throwOnInvalidBytes: true);

        private int _position = start;

        public bool Next(out int field, out int wire)
        {
            if (_position >= end)
            {
                field = wire = 0;
                return false;
            }
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (_position >= end) throw new InvalidDataException("truncated varint");
                byte b = data[_position++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
            throw new InvalidDataException("varint longer than 10 bytes");
        }

        public float Float()
        {
            Need(4);
            float value = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(_position, 4));
            _position += 4;
            return value;
        }

        public ProtoReader Message()
        {
            int length = Length();
            var inner = new ProtoReader(data, _position, _position + length);
            _position += length;
            return inner;
        }

        public string String()
        {
            int length = Length();
            string text = _strictUtf8.GetString(data, _position, length);
            _position += length;
            return text;
        }

        public byte[] Bytes()
        {
            int length = Length();
            var bytes = data.AsSpan(_position, length).ToArray();
            _position += length;
            return bytes;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Need(8); _position += 8; break;
                case 2: int length = Length(); _position += length; break; // not `_position += Length()`: that reads _position before Length() moves it
                case 5: Need(4); _position += 4; break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wire} at byte {_position}");
            }
        }

        private int Length()
        {
            ulong length = Varint();
            if (length > (ulong)(end - _position)) throw new InvalidDataException($"a length of {length} bytes at byte {_position} runs past the end of its message");
            return (int)length;
        }

        private void Need(int bytes)
        {
            if (end - _position < bytes) throw new InvalidDataException($"truncated field at byte {_position}");
        }
    }
}
