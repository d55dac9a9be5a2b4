using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.Clip.Training;
using SkiaSharp;

namespace Microsoft.ML.Clip.Samples;

/// <summary>Draws the watched zero-shot accuracy of fine-tuning runs (one colour per run, solid: set A, dashed: set B) into a PNG.</summary>
internal static class FineTunePlot
{
    private const int Width = 900, Height = 500, Left = 70, Right = 40, Top = 40, Bottom = 50;
    private static readonly SKColor[] Colours = [new(31, 119, 180), new(214, 39, 40), new(44, 160, 44), new(148, 103, 189)];

    public static void Write(IReadOnlyList<(string Name, ClipTrainingReport Report)> runs, string path)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        using var typeface = TrainingPlot.FindTypeface();
        using var text = new SKPaint { Color = SKColors.Black, TextSize = 13, IsAntialias = true, Typeface = typeface };
        using var axis = new SKPaint { Color = SKColors.Black, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var grid = new SKPaint { Color = new SKColor(225, 225, 225), StrokeWidth = 1, Style = SKPaintStyle.Stroke };
        var plot = new SKRect(Left, Top, Width - Right, Height - Bottom);
        double maxStep = Math.Max(1, runs.SelectMany(r => r.Report.ZeroShot).Select(z => (double)z.Step).DefaultIfEmpty(1).Max());
        float X(double step) => plot.Left + (float)(step / maxStep) * plot.Width;
        float Y(double accuracy) => plot.Bottom - (float)accuracy * plot.Height;
        for (int i = 0; i <= 5; i++)
        {
            float y = plot.Bottom - i * plot.Height / 5;
            canvas.DrawLine(plot.Left, y, plot.Right, y, grid);
            canvas.DrawText((i / 5.0).ToString("P0", CultureInfo.InvariantCulture), plot.Left - 45, y + 4, text);
            float x = plot.Left + i * plot.Width / 5;
            canvas.DrawText(((int)(maxStep * i / 5)).ToString(CultureInfo.InvariantCulture), x - 10, plot.Bottom + 18, text);
        }
        canvas.DrawRect(plot, axis);

        float legendY = plot.Top + 18;
        for (int r = 0; r < runs.Count; r++)
        {
            var sets = runs[r].Report.ZeroShot.Select(z => z.Set).Distinct().ToList();
            for (int s = 0; s < sets.Count; s++)
            {
                using var paint = new SKPaint { Color = Colours[r % Colours.Length], StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
                if (s > 0) paint.PathEffect = SKPathEffect.CreateDash([8, 5], 0);
                using var line = new SKPath();
                foreach (var z in runs[r].Report.ZeroShot.Where(z => z.Set == sets[s]))
                    if (line.IsEmpty) line.MoveTo(X(z.Step), Y(z.Accuracy)); else line.LineTo(X(z.Step), Y(z.Accuracy));
                canvas.DrawPath(line, paint);
                canvas.DrawLine(plot.Right - 230, legendY - 4, plot.Right - 200, legendY - 4, paint);
                canvas.DrawText($"{runs[r].Name}: set {sets[s]}", plot.Right - 192, legendY, text);
                legendY += 18;
            }
        }
        canvas.DrawText("Zero-shot accuracy on both domains while fine-tuning on domain B", plot.Left, 24, text);
        canvas.DrawText("optimizer step", plot.MidX - 40, Height - 12, text);

        using var image = surface.Snapshot();
        using var png = image.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        png.SaveTo(file);
    }
}
