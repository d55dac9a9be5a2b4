using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.Clip.Modeling;

// Plugs the ModifiedResNet tower into ImageTowers (see the partial methods declared there).
internal static partial class ImageTowers
{
    static partial void CreateModifiedResNet(VisionConfig vision, int embedDim, Device? device, ScalarType? dtype, ref nn.Module<Tensor, Tensor>? tower)
    {
        var resnet = ModifiedResNet.FromConfig(vision.ResNetLayers!, vision.Width, vision.ImageSize, embedDim, vision.HeadWidth);
        if (device is not null) resnet.to(device);
        if (dtype is ScalarType type && type != ScalarType.Float32) resnet.ToComputeType(type);
        tower = resnet;
    }

    static partial void ReportModifiedResNet(ref bool available) => available = true;
}
