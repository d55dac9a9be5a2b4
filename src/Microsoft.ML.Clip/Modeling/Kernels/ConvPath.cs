namespace Microsoft.ML.Clip.Modeling.Kernels;

/// <summary>How a CPU convolution is computed.</summary>
internal enum ConvPath
{
    /// <summary>libtorch's <c>conv2d</c>: oneDNN for fp32/bf16 batches on the CPU (ATen's own kernel for some small cases).</summary>
    Native,

    /// <summary>
    /// <c>unfold</c> (ATen im2col) + one matrix product (MKL for fp32) + reshape; its backward is a matrix product
    /// and ATen's col2im. No oneDNN convolution kernel is involved.
    /// </summary>
    Im2Col,
}

/// <summary>How the path of CPU convolutions is chosen (<c>CLIP_CONV_PATH</c>).</summary>
internal enum ConvPathMode
{
    /// <summary>Check the native kernel per signature when training, fall back to im2col where it is off.</summary>
    Auto,

    /// <summary>Always libtorch's conv2d, never checked (<c>CLIP_CONV_PATH=onednn</c>).</summary>
    Native,

    /// <summary>Always im2col (<c>CLIP_CONV_PATH=im2col</c>).</summary>
    Im2Col,
}
