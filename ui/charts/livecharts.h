#pragma once

#include "charts/chartmarker.h"
#include "metrics/metrics.h"

#include <QImage>
#include <QList>
#include <QPointF>
#include <QWidget>

#include <memory>
#include <vector>

namespace Sluice::Gui {

/// The live charts of a run, and the wrapper around Qt Charts for the window (all Qt Charts types stay
/// in ui/charts/).
///
/// Three views of four charts each, in a 2×2 grid. Overview: (1) requests issued and finished per
/// second, with the share of sends that had waited for a limit or a connection on its own axis
/// (0–100 %), never drawn over the sends; (2) failed attempts per second: 429s and every other error
/// class; (3) throughput: requests/s and tokens/s; (4) latency p50/p90/p99. Per endpoint: sends, 429s,
/// errors and mean latency per second, one line per endpoint. Streaming (streamed replies): (1) time to
/// first token p50/p90/p99; (2) inter-token latency p50/p99; (3) streamed output tokens/s and streams
/// finished/s; (4) mean time to first token, one line per endpoint. Markers (pause, resume, edits,
/// ejections, recoveries, 429 storms) are vertical lines across every chart; hovering a chart shows the
/// values at that second and the markers there; clicking a legend entry hides or shows its series.
///
/// Data comes in as MetricsSnapshot (each carries the last whole seconds in `recent`) or as a whole
/// history. Every series is updated with one `replace()` per refresh, at most 10 refreshes a second,
/// only for the view on screen, no animations. The time window is the last minute, the last 10 minutes
/// or the whole run (downsampled to at most `MaxPoints` points per series by averaging buckets).
class LiveCharts : public QWidget
{
    Q_OBJECT

public:
    enum class Window { LastMinute, LastTenMinutes, WholeRun };
    enum class View { Overview, PerEndpoint, Streaming };
    /// The fixed series of the overview (per-class and per-endpoint ones are found by name).
    enum class Series {
        Issued,
        Finished,
        HeldBack,   ///< % of the second's sends that had waited for a limit or a free connection
        Exceptions, ///< 429s per second
        Errors,     ///< other failed attempts per second, all classes (drawn when classes are unknown)
        RequestsPerSecond,
        TokensPerSecond,
        P50,
        P90,
        P99
    };
    static constexpr int MaxPoints = 600;
    static constexpr int ChartCount = 4; ///< charts per view

    explicit LiveCharts(QWidget *parent = nullptr);
    ~LiveCharts() override;

    /// Takes a snapshot from the engine (called on every engine tick; redraws are coalesced to ≤ 10 Hz).
    void addSnapshot(const Sluice::MetricsSnapshot &snapshot);
    /// Replaces everything with a recorded history (for `--render-chart`, or after a run).
    void setHistory(const std::vector<Sluice::SecondSample> &history);
    /// Forgets the data and the markers.
    void clear();
    void addMarker(const ChartMarker &marker);
    QList<ChartMarker> markers() const;

    void setWindow(Window window);
    Window window() const;
    void setView(View view);
    View view() const;

    /// Points currently shown in a series (tests, and the "charts received points" check). Like
    /// points(), it applies a pending coalesced refresh first.
    int pointCount(Series series) const;
    QList<QPointF> points(Series series) const;
    /// The points of the series with this object name in either view: "errors:server",
    /// "endpointSent:sim-a", "endpointLatency:sim-b", ... (x in seconds since the start).
    QList<QPointF> points(const QString &seriesName) const;
    /// The object names of the series a chart of a view holds now, in legend order.
    QStringList seriesNames(View view, int chart) const;
    /// Whether the operator hid this series (a click on its legend entry).
    bool isSeriesHidden(const QString &seriesName) const;
    void setSeriesHidden(const QString &seriesName, bool hidden);
    /// What hovering chart `chart` of the current view at `second` shows: the values of its visible
    /// series there and the markers within half a point of it.
    QString hoverText(int chart, double second) const;

    /// Renders the overview's four charts of the current window into an image of `size` without
    /// showing a window (screenshots, `sluice --render-chart`).
    QImage render(const QSize &size) const;
    /// Renders the given views for `window`, one 2×2 grid each, stacked (PNG export and HTML report:
    /// the whole run, whatever the window on screen).
    QImage render(const QSize &size, Window window, const QList<View> &views) const;

    /// Reads a history CSV written by Metrics::writeHistoryCsv; an empty vector and `error` set on failure.
    static std::vector<Sluice::SecondSample> readHistoryCsv(const QString &path, QString *error);

Q_SIGNALS:
    void windowChanged(Sluice::Gui::LiveCharts::Window window);
    void viewChanged(Sluice::Gui::LiveCharts::View view);

protected:
    void showEvent(QShowEvent *event) override;

private:
    struct Private;
    std::unique_ptr<Private> d;
};

} // namespace Sluice::Gui
