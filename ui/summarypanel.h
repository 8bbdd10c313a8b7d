#pragma once

#include "metrics/metrics.h"

#include <QStringList>
#include <QWidget>

#include <functional>

class QLabel;
class QTableWidget;

namespace Sluice::Gui {

class LatencyHistogramChart;

/// The end-of-run summary (what `sluice-cli run` prints): how the run ended, lines, error rate in %,
/// attempts, retries, 429s, throughput, latency percentiles and histogram, tokens, spend against the
/// budget, errors by class, the per-endpoint table and where the outputs are.
class SummaryPanel : public QWidget
{
    Q_OBJECT

public:
    explicit SummaryPanel(QWidget *parent = nullptr);

    /// Shows the summary of a run that ended; `stopped` when the operator stopped it. `unpriced`: the
    /// "model at endpoint" pairs without a price (named in the Unpriced line).
    void setSummary(const Sluice::MetricsSnapshot &summary, bool stopped, const QString &resultsPath,
                    const QString &errorsPath, const QStringList &unpriced = {});
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
    using Row = std::function<void(const QString &name, const QString &value)>;
    void addFigures(const Sluice::MetricsSnapshot &s, qint64 lines, const Row &row);
    /// Spent, committed, budget (and whether the run stopped at it), unpriced replies and models.
    void addCostFigures(const Sluice::MetricsSnapshot &s, const QStringList &unpriced, const Row &row);
    void fillClasses(const Sluice::MetricsSnapshot &s);
    void fillEndpoints(const Sluice::MetricsSnapshot &s);

    QLabel *m_headline = nullptr;
    QLabel *m_figures = nullptr;
    QTableWidget *m_classes = nullptr;
    QTableWidget *m_endpoints = nullptr;
    LatencyHistogramChart *m_histogram = nullptr;
    QLabel *m_outputs = nullptr;
    bool m_has = false;
};

} // namespace Sluice::Gui
