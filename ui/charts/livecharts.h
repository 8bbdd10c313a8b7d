#pragma once

#include "metrics/metrics.h"

#include <QImage>
#include <QList>
#include <QPointF>
#include <QWidget>

#include <memory>
#include <vector>

namespace Sluice::Gui {

/// The live charts of a run, and the only place Qt Charts types appear (ui/charts/).
///
/// Three charts, stacked: (1) per-second issued, finished, overflow and exceptions (429s) lines — the
/// view operators know from rateLLMiter's graphs; (2) throughput: requests/s and tokens/s (two axes);
/// (3) latency p50/p90/p99 in ms. Data comes in as MetricsSnapshot (each carries the last whole
/// seconds in `recent`) or as a whole history; every series keeps a fixed-capacity ring of points and
/// is updated with one `replace()` per series per refresh, at most 10 refreshes a second, no animations.
/// The time window is selectable: the last minute, the last 10 minutes, or the whole run (downsampled
/// to at most `MaxPoints` points per series by averaging buckets of seconds).
class LiveCharts : public QWidget
{
    Q_OBJECT

public:
    enum class Window { LastMinute, LastTenMinutes, WholeRun };
    enum class Series {
        Issued,
        Finished,
        Overflow,
        Exceptions,
        RequestsPerSecond,
        TokensPerSecond,
        P50,
        P90,
        P99
    };
    static constexpr int MaxPoints = 600;

    explicit LiveCharts(QWidget *parent = nullptr);
    ~LiveCharts() override;

    /// Takes a snapshot from the engine (called on every engine tick; redraws are coalesced to ≤ 10 Hz).
    void addSnapshot(const Sluice::MetricsSnapshot &snapshot);
    /// Replaces everything with a recorded history (for `--render-chart`, or after a run).
    void setHistory(const std::vector<Sluice::SecondSample> &history);
    void clear();

    void setWindow(Window window);
    Window window() const;

    /// Points currently shown in a series (tests, and the "charts received points" check).
    int pointCount(Series series) const;
    /// The points currently shown in a series (x in seconds since the start; tests and export). Like
    /// pointCount(), it applies a pending coalesced refresh first.
    QList<QPointF> points(Series series) const;
    /// Renders the three charts into an image of `size` without showing a window (PNG export,
    /// `sluice --render-chart`, screenshots).
    QImage render(const QSize &size) const;

    /// Reads a history CSV written by Metrics::writeHistoryCsv; an empty vector and `error` set on failure.
    static std::vector<Sluice::SecondSample> readHistoryCsv(const QString &path, QString *error);

Q_SIGNALS:
    void windowChanged(Sluice::Gui::LiveCharts::Window window);

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace Sluice::Gui
