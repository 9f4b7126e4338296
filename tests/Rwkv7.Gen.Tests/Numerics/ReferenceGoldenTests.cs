using Rwkv7.Gen.Tests.Infrastructure;

namespace Rwkv7.Gen.Tests.Numerics;

/// <summary>
/// The reference engine against the float64 goldens, in every container format, in serial (RNN) and
/// sequence mode.
/// </summary>
public sealed class ReferenceGoldenTests
{
    public static TheoryData<string> AllModelFiles() => [.. Models.TinyFiles, .. Models.Mh4Files];

    [Theory]
    [MemberData(nameof(AllModelFiles))]
    public void Serial_logits_and_final_state_match_goldens(string file)
    {
        Goldens goldens = Goldens.For(file);
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Reference });
        Assert.Equal("reference", model.EngineName);
        RwkvState state = model.CreateState();
        int v = model.Shape.Vocab;
        float[] all = new float[goldens.Tokens.Length * v];
        for (int t = 0; t < goldens.Tokens.Length; t++)
        {
            model.Forward(goldens.Tokens[t], state, all.AsSpan(t * v, v));
        }

        Tolerance.AssertLogitRows(goldens.Logits, all, v, $"{file} serial");
        goldens.AssertFinalState(state, $"{file} serial");
    }

    [Theory]
    [MemberData(nameof(AllModelFiles))]
    public void Sequence_logits_and_final_state_match_goldens(string file)
    {
        Goldens goldens = Goldens.For(file);
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Reference });
        RwkvState state = model.CreateState();
        int v = model.Shape.Vocab;
        float[] all = new float[goldens.Tokens.Length * v];
        model.ForwardAll(goldens.Tokens, state, all);

        Tolerance.AssertLogitRows(goldens.Logits, all, v, $"{file} sequence");
        goldens.AssertFinalState(state, $"{file} sequence");

        // Last-row-only sequence mode gives the same row.
        RwkvState state2 = model.CreateState();
        float[] last = new float[v];
        model.Forward(goldens.Tokens.AsSpan(0, 3), state2, last);
        Tolerance.AssertLogitRows(goldens.LogitsFirst3, last, v, $"{file} first three tokens");
    }

    [Theory]
    [MemberData(nameof(AllModelFiles))]
    public void Serial_and_sequence_mode_agree(string file)
    {
        Goldens goldens = Goldens.For(file);
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Reference });
        int v = model.Shape.Vocab;

        RwkvState serialState = model.CreateState();
        float[] serial = new float[goldens.Tokens.Length * v];
        for (int t = 0; t < goldens.Tokens.Length; t++)
        {
            model.Forward(goldens.Tokens[t], serialState, serial.AsSpan(t * v, v));
        }

        // Split the sequence in two chunks to also cover a sequence resumed from a non-zero state.
        RwkvState sequenceState = model.CreateState();
        float[] sequence = new float[goldens.Tokens.Length * v];
        int half = goldens.Tokens.Length / 2;
        model.ForwardAll(goldens.Tokens.AsSpan(0, half), sequenceState, sequence.AsSpan(0, half * v));
        model.ForwardAll(goldens.Tokens.AsSpan(half), sequenceState, sequence.AsSpan(half * v));

        Tolerance.AssertLogitRows(serial, sequence, v, $"{file} serial vs sequence");
        Tolerance.AssertState(serialState.Data, sequenceState.Data, $"{file} serial vs sequence state");
    }

    [Theory]
    [MemberData(nameof(TinyFiles))]
    public void Tiny_model_reproduces_rwkv_cpp_expected_logits(string file)
    {
        using RwkvModel model = RwkvModel.Load(Fixtures.Path(file), new RwkvModelOptions { Engine = EngineSelection.Reference });
        float[] expected = Fixtures.ReadF32(Models.TinyExpectedLogits);
        float[] logits = new float[model.Shape.Vocab];
        model.Forward([34, 105, 110], model.CreateState(), logits);
        Tolerance.AssertLogitRows(expected, logits, model.Shape.Vocab, $"{file} after \"in");
    }

    public static TheoryData<string> TinyFiles() => [.. Models.TinyFiles];
}
