#pragma once

#include "metrics/metrics.h"

#include <QWidget>

class QLabel;
class QTableWidget;

namespace Sluice::Gui {

class LatencyHistogramChart;

/// The end-of-run summary (what `sluice-cli run` prints): how the run ended, lines, error rate in %,
/// attempts, retries, 429s, throughput, latency percentiles and histogram, tokens, errors by class,
/// the per-endpoint table and where the outputs are.
class SummaryPanel : public QWidget
{
    Q_OBJECT

public:
    explicit SummaryPanel(QWidget *parent = nullptr);

    /// Shows the summary of a run that ended; `stopped` when the operator stopped it.
    void setSummary(const Sluice::MetricsSnapshot &summary, bool stopped, const QString &resultsPath,
                    const QString &errorsPath);
    void clear();
    bool hasSummary() const { return m_has; }
    /// The summary as plain text (tests, copy).
    QString text() const;
    LatencyHistogramChart *histogram() const { return m_histogram; }

    /// The share of lines with a record that failed, in % (0 when none has a record).
    static double errorRatePercent(const Sluice::MetricsSnapshot &summary);
    /// The share of attempts that failed (429s included), in %.
    static double attemptErrorRatePercent(const Sluice::MetricsSnapshot &summary);

private:
    QLabel *m_headline = nullptr;
    QLabel *m_figures = nullptr;
    QTableWidget *m_classes = nullptr;
    QTableWidget *m_endpoints = nullptr;
    LatencyHistogramChart *m_histogram = nullptr;
    QLabel *m_outputs = nullptr;
    bool m_has = false;
};

} // namespace Sluice::Gui
