#include "summarypanel.h"

#include "charts/latencyhistogramchart.h"
#include "cost/costestimate.h"

#include <QGridLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QRegularExpression>
#include <QScrollArea>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>

namespace Sluice::Gui {

namespace {

/// Amounts below this are the rounding residue of settled reservations (spent and committed are sums of
/// doubles): shown as nothing rather than "$0.00000000".
constexpr double ResidueUsd = 1e-9;

QString count(qint64 n)
{
    return QLocale(QLocale::English).toString(n);
}

QString percent(double p)
{
    return QString::number(p, 'f', p > 0 && p < 0.1 ? 3 : p < 10 ? 2 : 1) + QStringLiteral(" %");
}

QString ms(double v)
{
    return v <= 0 ? QStringLiteral("—")
                  : QLocale(QLocale::English).toString(qint64(std::llround(v))) + QStringLiteral(" ms");
}

QString duration(double seconds)
{
    const qint64 s = qint64(std::llround(std::max(0.0, seconds)));
    if (s < 60) {
        return QStringLiteral("%1 s").arg(s);
    }
    if (s < 3600) {
        return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
    }
    return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
}

QTableWidgetItem *cell(const QString &text, bool number = false)
{
    auto *item = new QTableWidgetItem(text);
    item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable);
    if (number) {
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    }
    return item;
}

QTableWidget *makeTable(QWidget *parent, const QStringList &headers, const char *name)
{
    auto *table = new QTableWidget(0, int(headers.size()), parent);
    table->setObjectName(QString::fromLatin1(name));
    table->setHorizontalHeaderLabels(headers);
    table->verticalHeader()->hide();
    table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->setSizeAdjustPolicy(QAbstractScrollArea::AdjustToContents);
    table->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    return table;
}

} // namespace

double SummaryPanel::errorRatePercent(const MetricsSnapshot &s)
{
    return s.done() > 0 ? 100.0 * double(s.failed) / double(s.done()) : 0.0;
}

double SummaryPanel::attemptErrorRatePercent(const MetricsSnapshot &s)
{
    qint64 failedAttempts = 0;
    for (auto it = s.attemptErrorsByClass.cbegin(); it != s.attemptErrorsByClass.cend(); ++it) {
        failedAttempts += it.value();
    }
    return s.issued > 0 ? 100.0 * double(failedAttempts) / double(s.issued) : 0.0;
}

SummaryPanel::SummaryPanel(QWidget *parent)
    : QWidget(parent)
{
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    outer->addWidget(scroll);
    auto *content = new QWidget(scroll);
    scroll->setWidget(content);
    auto *grid = new QGridLayout(content);

    m_headline = new QLabel(content);
    m_headline->setObjectName(QStringLiteral("summaryHeadline"));
    QFont big = m_headline->font();
    big.setPointSizeF(big.pointSizeF() * 1.25);
    big.setBold(true);
    m_headline->setFont(big);
    m_headline->setWordWrap(true);
    m_figures = new QLabel(content);
    m_figures->setObjectName(QStringLiteral("summaryFigures"));
    m_figures->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_figures->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_classes =
        makeTable(content, {tr("Error class"), tr("Lines failed"), tr("Attempts failed")}, "summaryClasses");
    m_endpoints = makeTable(content,
                            {tr("Endpoint"), tr("Weight"), tr("Sent"), tr("OK"), tr("429"), tr("Errors"),
                             tr("Failed %"), tr("p50"), tr("p99"), tr("Cost"), tr("State"), tr("Limit")},
                            "summaryEndpoints");
    m_histogram = new LatencyHistogramChart(content);
    m_outputs = new QLabel(content);
    m_outputs->setObjectName(QStringLiteral("summaryOutputs"));
    m_outputs->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_outputs->setWordWrap(true);

    grid->addWidget(m_headline, 0, 0, 1, 2);
    grid->addWidget(m_figures, 1, 0);
    grid->addWidget(m_histogram, 1, 1, 2, 1);
    grid->addWidget(m_classes, 2, 0, Qt::AlignTop);
    grid->addWidget(m_endpoints, 3, 0, 1, 2);
    grid->addWidget(m_outputs, 4, 0, 1, 2);
    grid->setColumnStretch(1, 1);
    grid->setRowStretch(5, 1);
    clear();
}

void SummaryPanel::clear()
{
    m_has = false;
    m_headline->setText(tr("The summary of the run appears here when it ends."));
    m_figures->clear();
    m_classes->setRowCount(0);
    m_endpoints->setRowCount(0);
    m_outputs->clear();
    m_histogram->setBuckets({});
    m_classes->hide();
    m_endpoints->hide();
    m_histogram->hide();
}

void SummaryPanel::setSummary(const MetricsSnapshot &s, bool stopped, const QString &resultsPath,
                              const QString &errorsPath, const QStringList &unpriced)
{
    m_has = true;
    const qint64 lines = std::max(s.linesRead, s.doneInAll() + s.notStarted);
    m_headline->setText(s.cost.budgetReached
                            ? tr("Stopped at the cost budget after %1: %2 of %3 lines were not sent")
                                  .arg(duration(s.elapsedMs / 1000.0), count(s.notStarted), count(lines))
                        : stopped || s.notStarted > 0
                            ? tr("Stopped after %1: %2 of %3 lines were not sent")
                                  .arg(duration(s.elapsedMs / 1000.0), count(s.notStarted), count(lines))
                            : tr("Finished in %1: %2 succeeded, %3 failed")
                                  .arg(duration(s.elapsedMs / 1000.0), count(s.succeeded), count(s.failed)));
    QStringList rows;
    const auto row = [&rows](const QString &name, const QString &value) {
        rows.append(QStringLiteral("<tr><td>%1</td><td align=\"right\"><b>%2</b></td></tr>")
                        .arg(name.toHtmlEscaped(), value.toHtmlEscaped()));
    };
    addFigures(s, lines, row);
    addCostFigures(s, unpriced, row);
    m_figures->setText(QStringLiteral("<table cellspacing=\"2\">") + rows.join(QString()) +
                       QStringLiteral("</table>"));
    fillClasses(s);
    fillEndpoints(s);
    m_histogram->setBuckets(s.latencyBuckets);
    m_histogram->setVisible(true);
    m_outputs->setText(tr("Results: %1 (%2 lines)\nErrors: %3 (%4 lines)")
                           .arg(resultsPath, count(s.succeeded), errorsPath, count(s.failed)));
}

void SummaryPanel::addFigures(const MetricsSnapshot &s, qint64 lines, const Row &row)
{
    row(tr("Lines"), count(lines));
    row(tr("Succeeded"), count(s.succeeded));
    row(tr("Failed"), count(s.failed));
    row(tr("Error rate (lines)"), percent(errorRatePercent(s)));
    row(tr("Error rate (attempts)"), percent(attemptErrorRatePercent(s)));
    if (s.invalidLines > 0) {
        row(tr("Invalid lines (in the errors)"), count(s.invalidLines));
    }
    if (s.notStarted > 0) {
        row(tr("Not sent (stopped)"), count(s.notStarted));
    }
    if (s.resumedSucceeded + s.resumedFailed > 0) {
        row(tr("From earlier sessions"),
            tr("%1 succeeded, %2 failed").arg(count(s.resumedSucceeded), count(s.resumedFailed)));
    }
    row(tr("Attempts"), count(s.issued));
    row(tr("Retries"), count(s.retries));
    row(tr("Answered 429"), count(s.rateLimited));
    row(tr("Waited for a limit or a connection"), count(s.overflow));
    row(tr("Requests/s (average)"), QString::number(s.averageRps, 'f', 1));
    row(tr("Latency p50 / p90 / p99"),
        QStringLiteral("%1 / %2 / %3").arg(ms(s.p50Ms), ms(s.p90Ms), ms(s.p99Ms)));
    row(tr("Tokens in / out"), QStringLiteral("%1 / %2").arg(count(s.inputTokens), count(s.outputTokens)));
    row(tr("Duration"), duration(s.elapsedMs / 1000.0));
}

void SummaryPanel::addCostFigures(const MetricsSnapshot &s, const QStringList &unpriced, const Row &row)
{
    const CostStats &c = s.cost;
    row(tr("Spent"),
        c.pricedReplies > 0
            ? tr("%1 (%2 priced replies)").arg(CostEstimate::formatUsd(c.spentUsd), count(c.pricedReplies))
            : CostEstimate::formatUsd(c.spentUsd));
    if (c.earlierUsd > 0) {
        row(tr("Spent before the resume"), CostEstimate::formatUsd(c.earlierUsd));
    }
    if (c.reservedUsd > ResidueUsd) {
        row(tr("Committed in flight"), CostEstimate::formatUsd(c.reservedUsd));
    }
    row(tr("Budget"), c.budgetUsd > 0 ? tr("%1 (%2 used)")
                                            .arg(CostEstimate::formatUsd(c.budgetUsd),
                                                 percent(100.0 * c.runSpentUsd() / c.budgetUsd))
                      : c.limited ? tr("endpoint budgets only")
                                  : tr("none"));
    if (c.budgetReached) {
        row(tr("Budget reached"),
            tr("%1 lines not sent; Run resumes them (raise the budget first)").arg(count(s.notStarted)));
    }
    if (c.unpricedReplies > 0 || !unpriced.isEmpty()) {
        QStringList parts;
        if (!unpriced.isEmpty()) {
            parts.append(tr("no price for %1").arg(unpriced.join(QStringLiteral(", "))));
        }
        parts.append(tr("%1 replies not in the spend").arg(count(c.unpricedReplies)));
        row(tr("Unpriced"), parts.join(QStringLiteral("; ")));
    }
}

void SummaryPanel::fillClasses(const MetricsSnapshot &s)
{
    QStringList classes = s.errorsByClass.keys();
    for (const QString &c : s.attemptErrorsByClass.keys()) {
        if (!classes.contains(c)) {
            classes.append(c);
        }
    }
    classes.sort();
    m_classes->setRowCount(int(classes.size()));
    for (int i = 0; i < classes.size(); ++i) {
        m_classes->setItem(i, 0, cell(classes.at(i)));
        m_classes->setItem(i, 1, cell(count(s.errorsByClass.value(classes.at(i))), true));
        m_classes->setItem(i, 2, cell(count(s.attemptErrorsByClass.value(classes.at(i))), true));
    }
    m_classes->setVisible(!classes.isEmpty());
}

void SummaryPanel::fillEndpoints(const MetricsSnapshot &s)
{
    m_endpoints->setRowCount(int(s.endpoints.size()));
    for (int i = 0; i < s.endpoints.size(); ++i) {
        const EndpointStats &e = s.endpoints.at(i);
        const qint64 failedAttempts = e.rateLimited + e.errors;
        const QString limit =
            e.limitRps > 0 ? QStringLiteral("%1/s (%2)").arg(e.limitRps, 0, 'f', 1).arg(e.limitReasonText())
                           : e.limitReasonText();
        const QStringList values = {
            e.name,
            QString::number(e.weight, 'g', 4),
            count(e.sent),
            count(e.ok),
            count(e.rateLimited),
            count(e.errors),
            percent(e.sent > 0 ? 100.0 * double(failedAttempts) / double(e.sent) : 0.0),
            ms(e.p50Ms),
            ms(e.p99Ms),
            CostEstimate::formatUsd(e.costSpentUsd),
            e.stateText(),
            limit};
        for (int c = 0; c < values.size(); ++c) {
            m_endpoints->setItem(i, c, cell(values.at(c), c >= 1 && c <= 9));
        }
    }
    m_endpoints->setVisible(!s.endpoints.isEmpty());
}

QString SummaryPanel::text() const
{
    QString t = m_headline->text() + QLatin1Char('\n');
    QString figures = m_figures->text();
    figures.replace(QStringLiteral("</tr>"), QStringLiteral("\n"));
    figures.replace(QStringLiteral("</td><td align=\"right\">"), QStringLiteral(": "));
    static const QRegularExpression tags(QStringLiteral("<[^>]*>"));
    figures.remove(tags);
    t += figures;
    for (int r = 0; r < m_classes->rowCount(); ++r) {
        t += QStringLiteral("%1: %2 lines, %3 attempts\n")
                 .arg(m_classes->item(r, 0)->text(), m_classes->item(r, 1)->text(),
                      m_classes->item(r, 2)->text());
    }
    for (int r = 0; r < m_endpoints->rowCount(); ++r) {
        QStringList cells;
        for (int c = 0; c < m_endpoints->columnCount(); ++c) {
            cells.append(m_endpoints->item(r, c)->text());
        }
        t += cells.join(QStringLiteral(" | ")) + QLatin1Char('\n');
    }
    return t + m_outputs->text();
}

} // namespace Sluice::Gui
