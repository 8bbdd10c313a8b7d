#include "latencyhistogramchart.h"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QLocale>
#include <QPainter>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <array>
#include <cmath>

namespace Sluice::Gui {

namespace {

/// A 1-2-5 step of at least `raw`.
double niceStep(double raw)
{
    const double magnitude = std::pow(10.0, std::floor(std::log10(std::max(raw, 1e-3))));
    for (const double f : {1.0, 2.0, 5.0, 10.0}) {
        if (f * magnitude >= raw) {
            return f * magnitude;
        }
    }
    return 10 * magnitude;
}

/// Upper bin edges covering [low, high]: even steps when the latencies span less than a factor of 10
/// (a 40-110 ms run gets 10 ms bins), else 1-2-5 steps per decade (a log scale).
std::vector<double> edges(double low, double high, int maxBins)
{
    std::vector<double> upper;
    if (high <= low * 10) {
        const double step = niceStep((high - low) / std::max(1, maxBins - 1));
        for (double edge = std::floor(low / step) * step + step; upper.empty() || upper.back() < high;
             edge += step) {
            upper.push_back(edge);
        }
        return upper;
    }
    double magnitude = std::pow(10.0, std::floor(std::log10(std::max(low, 0.1))));
    while (upper.empty() || upper.back() < high) {
        for (const double f : {1.0, 2.0, 5.0}) {
            if (f * magnitude >= low && (upper.empty() || upper.back() < high)) {
                upper.push_back(f * magnitude);
            }
        }
        magnitude *= 10;
    }
    return upper;
}

} // namespace

QList<LatencyHistogramChart::Bin>
LatencyHistogramChart::regroup(const std::vector<std::pair<double, qint64>> &buckets, int maxBins)
{
    QList<Bin> bins;
    if (buckets.empty()) {
        return bins;
    }
    // A bucket holds latencies up to 4 % below its upper bound.
    const double low = buckets.front().first / 1.04;
    const double high = buckets.back().first;
    const std::vector<double> upper = edges(low, high, std::max(2, maxBins));
    // Short labels (the unit is on the axis): milliseconds, or seconds for slower runs.
    const bool inSeconds = upper.back() >= 2000;
    for (const double edge : upper) {
        Bin bin;
        bin.upperMs = edge;
        bin.label = QLocale(QLocale::English).toString(inSeconds ? edge / 1000.0 : edge, 'g', 4);
        bins.append(bin);
    }
    for (const auto &[ms, count] : buckets) {
        // The bucket's upper bound decides its bin (buckets are 4 % wide: a bin edge is off by at most that).
        auto it = std::lower_bound(upper.begin(), upper.end(), ms * 0.999);
        const qsizetype index = it == upper.end() ? bins.size() - 1 : qsizetype(it - upper.begin());
        bins[index].count += count;
    }
    return bins;
}

LatencyHistogramChart::LatencyHistogramChart(QWidget *parent)
    : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto *chart = new QChart;
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->hide();
    m_view = new QChartView(chart, this);
    m_view->setObjectName(QStringLiteral("latencyHistogram"));
    m_view->setMinimumSize(320, 200);
    chart->setParent(m_view);
    layout->addWidget(m_view);
    rebuild(chart);
}

LatencyHistogramChart::~LatencyHistogramChart() = default;

void LatencyHistogramChart::setBuckets(const std::vector<std::pair<double, qint64>> &buckets)
{
    m_bins = regroup(buckets);
    rebuild(m_view->chart());
}

void LatencyHistogramChart::rebuild(QChart *chart) const
{
    const bool dark = palette().color(QPalette::Window).lightness() < 128;
    if ((chart->theme() == QChart::ChartThemeDark) != dark) {
        chart->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    }
    chart->removeAllSeries();
    for (QAbstractAxis *axis : chart->axes()) {
        chart->removeAxis(axis);
        delete axis;
    }
    qint64 total = 0;
    for (const Bin &bin : m_bins) {
        total += bin.count;
    }
    chart->setTitle(total > 0 ? tr("Latency of the run's %L1 successes").arg(total)
                              : tr("Latency histogram (no successes yet)"));
    auto *set = new QBarSet(tr("successes"));
    set->setColor(QColor(0x3b, 0x82, 0xf6));
    QStringList categories;
    double top = 0;
    for (const Bin &bin : m_bins) {
        *set << double(bin.count);
        categories << bin.label;
        top = std::max(top, double(bin.count));
    }
    auto *series = new QBarSeries;
    series->append(set);
    series->setBarWidth(0.9);
    chart->addSeries(series);
    auto *x = new QBarCategoryAxis;
    x->append(categories);
    const bool inSeconds = !m_bins.isEmpty() && m_bins.back().upperMs >= 2000;
    x->setTitleText(inSeconds ? tr("latency, s (upper edge of each bin)")
                              : tr("latency, ms (upper edge of each bin)"));
    auto *y = new QValueAxis;
    y->setLabelFormat(QStringLiteral("%.0f"));
    const double step = niceStep(std::max(1.0, top) / 4);
    y->setTickType(QValueAxis::TicksDynamic);
    y->setTickAnchor(0);
    y->setTickInterval(step);
    y->setRange(0, std::ceil(std::max(1.0, top) * 1.05 / step) * step);
    y->setTitleText(tr("successes"));
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    series->attachAxis(x);
    series->attachAxis(y);
}

QImage LatencyHistogramChart::render(const QSize &size) const
{
    QImage image(size, QImage::Format_ARGB32_Premultiplied);
    if (size.isEmpty()) {
        return image;
    }
    image.fill(palette().color(QPalette::Window));
    QGraphicsScene scene;
    auto *chart = new QChart;
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->hide();
    rebuild(chart);
    scene.addItem(chart);
    chart->setGeometry(QRectF(QPointF(0, 0), QSizeF(size)));
    if (QGraphicsLayout *layout = chart->layout()) {
        layout->activate();
    }
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing, true);
    scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), QRectF(QPointF(0, 0), QSizeF(size)));
    return image;
}

} // namespace Sluice::Gui
