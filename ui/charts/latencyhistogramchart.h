#pragma once

#include <QImage>
#include <QList>
#include <QString>
#include <QWidget>

#include <utility>
#include <vector>

class QChart;
class QChartView;

namespace Sluice::Gui {

/// The run's latency histogram (successes) as a bar chart: the engine's 4 % buckets regrouped into
/// bins with round edges (50, 55, 60 ms ...). Part of the charts wrapper (ui/charts/).
class LatencyHistogramChart : public QWidget
{
    Q_OBJECT

public:
    struct Bin
    {
        double upperMs = 0; ///< latencies in (previous bin's upper, upperMs]
        qint64 count = 0;
        QString label; ///< the upper edge, in ms (or s when the slowest bin reaches 2 s)
    };

    explicit LatencyHistogramChart(QWidget *parent = nullptr);
    ~LatencyHistogramChart() override;

    /// The histogram: (upper bound in ms, count) per non-empty bucket, as MetricsSnapshot carries it.
    void setBuckets(const std::vector<std::pair<double, qint64>> &buckets);
    QList<Bin> bins() const { return m_bins; }
    QImage render(const QSize &size) const;

    /// Regroups buckets into bins: even 1-2-5 steps when latencies span less than a factor of 10 (about
    /// `maxBins` bins), else 1-2-5 edges per decade.
    static QList<Bin> regroup(const std::vector<std::pair<double, qint64>> &buckets, int maxBins = 16);

private:
    void rebuild(QChart *chart) const;

    QList<Bin> m_bins;
    QChartView *m_view = nullptr;
};

} // namespace Sluice::Gui
