using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Microsoft.ML.Clip.Modeling;

/// <summary>
/// Activation checkpointing of one residual block: the forward pass keeps only the block's input, and the backward
/// pass runs the block again with gradients to get what it needs. Memory for a tower's activations falls from every
/// intermediate of every block to one input per block (plus one block's intermediates at a time during the backward
/// pass), for one more forward pass of the block.
/// </summary>
/// <remarks>
/// Recomputation gives the same values only for blocks without randomness or running statistics, which holds for the
/// transformer blocks here (no dropout; LayerNorm only). The block's second input (an attention mask, EVA02's rotary
/// tables) is passed through as a constant. The parameters are passed to the autograd function as inputs,
/// so their gradients reach <c>.grad</c> through the function's node, like those of the input.
/// </remarks>
internal static class ActivationCheckpoint
{
    private static long _recomputations;

    /// <summary>Blocks recomputed in backward passes since the process started (tests and benchmarks read it to see
    /// that checkpointing is in effect).</summary>
    public static long Recomputations => Interlocked.Read(ref _recomputations);

    /// <summary>
    /// Runs <paramref name="blocks"/> in order on <paramref name="x"/>, each also given <paramref name="extra"/> (an
    /// attention mask, rotary tables, or null), checkpointing each when <paramref name="checkpoint"/> is set and the pass
    /// trains with gradients. Intermediate outputs are released as soon as the next block has consumed them.
    /// </summary>
    public static Tensor RunBlocks(IEnumerable<nn.Module<Tensor, Tensor?, Tensor>> blocks, Tensor x, Tensor? extra, bool checkpoint)
    {
        bool active = checkpoint && is_grad_enabled();
        var h = x;
        foreach (var block in blocks)
        {
            var next = active ? Run(block, h, extra) : block.forward(h, extra);
            if (!ReferenceEquals(h, x)) h.Dispose();
            h = next;
        }
        return ReferenceEquals(h, x) ? x.alias() : h;
    }

    /// <summary>Applies <paramref name="block"/> to <paramref name="x"/> (and <paramref name="attnMask"/>, its second input) with checkpointing.</summary>
    public static Tensor Run(nn.Module<Tensor, Tensor?, Tensor> block, Tensor x, Tensor? attnMask)
    {
        var parameters = block.parameters().Where(p => p.requires_grad).ToArray();
        // The mask travels as an argument (not inside the call) so that autograd keeps it alive until the backward
        // pass: the caller's dispose scope may release its own handle first.
        return CheckpointedBlock.apply([new BlockCall(block, parameters), x, attnMask!, .. parameters]);
    }

    /// <summary>What the backward pass needs to rerun the block (not a tensor, so autograd ignores it).</summary>
    private sealed record BlockCall(nn.Module<Tensor, Tensor?, Tensor> Block, Parameter[] Parameters);

    private sealed class CheckpointedBlock : SingleTensorFunction<CheckpointedBlock>
    {
        public override string Name => nameof(CheckpointedBlock);

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var call = (BlockCall)vars[0];
            var x = (Tensor)vars[1];
            var mask = vars[2] as Tensor;
            ctx.save_data(nameof(BlockCall), call);
            ctx.save_for_backward(mask is null ? [x] : [x, mask]);
            // apply() runs this with gradients off: the block's intermediates are freed as it goes.
            return call.Block.forward(x, mask);
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
        {
            ReleaseHandedOver();
            var call = (BlockCall)ctx.get_data(nameof(BlockCall));
            Interlocked.Increment(ref _recomputations);
            List<Tensor> result;
            // Every wrapper made here (the saved input, the recomputed output, the incoming gradient) is released when
            // this block is done: left to the caller's scope, they would keep ~5 block outputs' worth of memory alive
            // per block until the training step ends, most of what checkpointing saves.
            using (var scope = NewDisposeScope())
            {
                var saved = ctx.get_saved_variables();
                var x = saved[0];
                var mask = saved.Count > 1 ? saved[1] : null;
                scope.Attach(gradOutput);
                using var grad = enable_grad();
                var input = x.detach().requires_grad_(true);
                var output = call.Block.forward(input, mask);
                var gradients = autograd.grad([output], [input, .. call.Parameters], [gradOutput], allow_unused: true);
                // One entry per forward argument: none for the call, the input's, none for the mask, each parameter's.
                result = [null!, gradients[0], null!, .. gradients.Skip(1)];
                foreach (var g in result) g?.MoveToOuterDisposeScope();
            }
            // TorchSharp reads the returned handles after this method returns (libtorch then holds its own references),
            // so they are released at the start of the next block's backward pass instead.
            HandedOver ??= new List<Tensor>();
            HandedOver.AddRange(result.Where(g => g is not null));
            return result;
        }
    }

    // Gradients returned to libtorch by the last backward pass on this thread (the CPU engine runs backward passes on
    // the thread that calls backward(); each device has one thread of its own).
    [ThreadStatic] private static List<Tensor>? HandedOver;

    private static void ReleaseHandedOver()
    {
        if (HandedOver is null) return;
        foreach (var g in HandedOver) g.Dispose();
        HandedOver.Clear();
    }
}
