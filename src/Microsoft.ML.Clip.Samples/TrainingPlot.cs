using System;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Training;
using SkiaSharp;

namespace Microsoft.ML.Clip.Samples;

/// <summary>
/// Draws the loss curve and the validation recall of a training run into a PNG with SkiaSharp 2.88.
/// Why not a plotting library: ScottPlot 5 needs SkiaSharp 3, whose SKBitmap API is not binary compatible
/// with the 2.88 that ML.NET's MLImage is compiled against; both cannot live in one process.
/// </summary>
internal static class TrainingPlot
{
    private const int Width = 900, Height = 500, Left = 70, Right = 80, Top = 40, Bottom = 50;

    public static void Write(ClipTrainingReport report, string path)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = FindTypeface();
        using var text = new SKPaint { Color = SKColors.Black, TextSize = 13, IsAntialias = true, Typeface = typeface };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, Style = SKPaintStyle.Stroke };

        var plot = new SKRect(Left, Top, Width - Right, Height - Bottom);
        double maxStep = Math.Max(1, report.Losses.Count == 0 ? 1 : report.Losses.Max(l => l.Step));
        double maxLoss = report.Losses.Count == 0 ? 1 : report.Losses.Max(l => l.Loss) * 1.05;
        float X(double step) => plot.Left + (float)(step / maxStep) * plot.Width;
        float YLoss(double loss) => plot.Bottom - (float)(loss / maxLoss) * plot.Height;
        float YRecall(double recall) => plot.Bottom - (float)recall * plot.Height;

        for (int i = 0; i <= 5; i++)
        {
            float y = plot.Bottom - i * plot.Height / 5;
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            canvas.DrawText((maxLoss * i / 5).ToString("F2", CultureInfo.InvariantCulture), plot.Left - 45, y + 4, text);
            canvas.DrawText((i / 5.0).ToString("P0", CultureInfo.InvariantCulture), plot.Right + 8, y + 4, text);
            float x = plot.Left + i * plot.Width / 5;
            canvas.DrawText(((int)(maxStep * i / 5)).ToString(CultureInfo.InvariantCulture), x - 10, plot.Bottom + 18, text);
        }
        canvas.DrawRect(plot, axis);

        using var lossPaint = new SKPaint { Color = new SKColor(31, 119, 180), StrokeWidth = 1.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using (var lossPath = new SKPath())
        {
            foreach (var (step, loss) in report.Losses)
                if (lossPath.IsEmpty) lossPath.MoveTo(X(step), YLoss(loss)); else lossPath.LineTo(X(step), YLoss(loss));
            canvas.DrawPath(lossPath, lossPaint);
        }

        using var recallPaint = new SKPaint { Color = new SKColor(214, 39, 40), StrokeWidth = 2.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var recallDots = new SKPaint { Color = recallPaint.Color, IsAntialias = true, Style = SKPaintStyle.Fill };
        using (var recallPath = new SKPath())
        {
            foreach (var v in report.Validation)
            {
                float x = X(v.Step), y = YRecall((v.ImageToTextRecallAt1 + v.TextToImageRecallAt1) / 2);
                if (recallPath.IsEmpty) recallPath.MoveTo(x, y); else recallPath.LineTo(x, y);
                canvas.DrawCircle(x, y, 4, recallDots);
            }
            canvas.DrawPath(recallPath, recallPaint);
        }

        canvas.DrawText("ClipPretrain on the shapes data: training loss (blue, left axis) and validation Recall@1 (red, right axis)", plot.Left, 24, text);
        canvas.DrawText("optimizer step", plot.MidX - 40, Height - 12, text);

        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }

    /// <summary>A sans-serif font file when the system has one (SkiaSharp's Linux build has no font discovery).</summary>
    internal static SKTypeface FindTypeface()
    {
        foreach (var candidate in new[] { "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/Arial.ttf", @"C:\Windows\Fonts\arial.ttf" })
            if (File.Exists(candidate) && SKTypeface.FromFile(candidate) is SKTypeface typeface)
                return typeface;
        return SKTypeface.Default;
    }
}
