#include "livecharts.h"

#include "charthistory.h"

#include <QAbstractAxis>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QEvent>
#include <QFile>
#include <QGraphicsItem>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
#include <QPainter>
#include <QSet>
#include <QStackedWidget>
#include <QTimer>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

namespace Sluice::Gui {

namespace {

constexpr int RefreshDelayMs = 100; // ≤ 10 redraws a second
constexpr int PageCount = 3;
using Metric = ChartHistory::Metric;

struct ChartSpec
{
    const char *name;  ///< object name of the chart view
    const char *title; ///< chart title
    const char *left;  ///< left axis title
    const char *right; ///< right axis title, nullptr when none
};

struct SeriesSpec
{
    QString name;  ///< object name: what tests, hover and legend toggling know it by
    QString label; ///< legend text
    QString unit;  ///< after the value in the hover text
    QColor color;
    int chart = 0;
    bool right = false; ///< drawn against the chart's right axis
    Qt::PenStyle style = Qt::SolidLine;
    ChartHistory::MetricId metric;
    bool hideWhenZero = false; ///< an error class that never happened in the window stays out of the legend
    bool needsClassData = false;
    bool withoutClassData = false;
};

const std::array<ChartSpec, LiveCharts::ChartCount> &chartSpecs(int page)
{
    static const std::array<ChartSpec, LiveCharts::ChartCount> overview = {{
        {"requestsChart", "Requests per second", "req/s", "% waited"},
        {"errorsChart", "Failed attempts per second, by class", "per s", nullptr},
        {"throughputChart", "Throughput", "req/s", "tokens/s"},
        {"latencyChart", "Latency of successes", "ms", nullptr},
    }};
    static const std::array<ChartSpec, LiveCharts::ChartCount> perEndpoint = {{
        {"endpointSentChart", "Sent per second, by endpoint", "req/s", nullptr},
        {"endpoint429Chart", "429s per second, by endpoint", "429/s", nullptr},
        {"endpointErrorsChart", "Errors per second, by endpoint", "per s", nullptr},
        {"endpointLatencyChart", "Mean latency, by endpoint", "ms", nullptr},
    }};
    static const std::array<ChartSpec, LiveCharts::ChartCount> streaming = {{
        {"ttftChart", "Time to first token (streamed replies)", "ms", nullptr},
        {"itlChart", "Inter-token latency (gaps between chunks)", "ms", nullptr},
        {"streamThroughputChart", "Streamed output", "tokens/s", "streams/s"},
        {"endpointTtftChart", "Mean time to first token, by endpoint", "ms", nullptr},
    }};
    return page == 0 ? overview : page == 1 ? perEndpoint : streaming;
}

// Mid-saturation colours that keep enough contrast on both the light and the dark chart theme.
const QColor Blue(0x3b, 0x82, 0xf6), Green(0x22, 0xa3, 0x5a), Amber(0xf5, 0x9e, 0x0b), Red(0xe5, 0x48, 0x4d),
    Violet(0x8b, 0x5c, 0xf6), Teal(0x14, 0xb8, 0xa6), Crimson(0xe1, 0x1d, 0x48), Grey(0x8a, 0x8a, 0x94);

const std::array<const char *, 10> &overviewNames()
{
    static const std::array<const char *, 10> names = {
        "issued",          "finished", "heldBack", "exceptions", "errors", "requestsPerSecond",
        "tokensPerSecond", "p50",      "p90",      "p99"};
    return names;
}

std::vector<SeriesSpec> overviewSeries()
{
    const auto spec = [](int series, const char *label, const char *unit, QColor color, int chart,
                         Metric metric) {
        SeriesSpec s;
        s.name = QString::fromLatin1(overviewNames()[std::size_t(series)]);
        s.label = QString::fromUtf8(label);
        s.unit = QString::fromUtf8(unit);
        s.color = color;
        s.chart = chart;
        s.metric = {metric, 0};
        return s;
    };
    using S = LiveCharts::Series;
    std::vector<SeriesSpec> specs;
    specs.push_back(spec(int(S::Issued), "Issued", "req/s", Blue, 0, Metric::Issued));
    specs.push_back(spec(int(S::Finished), "Finished", "req/s", Green, 0, Metric::Finished));
    SeriesSpec held =
        spec(int(S::HeldBack), "Waited for a limit (%)", "% of sends", Amber, 0, Metric::HeldBackPercent);
    held.right = true;
    held.style = Qt::DashLine;
    specs.push_back(held);
    specs.push_back(spec(int(S::Exceptions), "429 rate_limited", "/s", Red, 1, Metric::RateLimited));
    SeriesSpec errors = spec(int(S::Errors), "Other errors", "/s", Violet, 1, Metric::Errors);
    errors.withoutClassData = true;
    specs.push_back(errors);
    specs.push_back(
        spec(int(S::RequestsPerSecond), "Requests/s", "req/s", Green, 2, Metric::RequestsPerSecond));
    SeriesSpec tokens =
        spec(int(S::TokensPerSecond), "Tokens/s", "tokens/s", Violet, 2, Metric::TokensPerSecond);
    tokens.right = true;
    specs.push_back(tokens);
    specs.push_back(spec(int(S::P50), "p50", "ms", Teal, 3, Metric::P50));
    specs.push_back(spec(int(S::P90), "p90", "ms", Amber, 3, Metric::P90));
    specs.push_back(spec(int(S::P99), "p99", "ms", Crimson, 3, Metric::P99));
    static const std::array<QColor, ChartHistory::ClassCount> classColors = {
        Violet, QColor(0x0e, 0xa5, 0xe9), QColor(0xa1, 0x62, 0x07), QColor(0xdb, 0x27, 0x77), Grey, Teal};
    for (int c = 0; c < ChartHistory::ClassCount; ++c) {
        SeriesSpec s;
        const QString cls = QString::fromLatin1(ChartHistory::classNames()[std::size_t(c)]);
        s.name = QStringLiteral("errors:") + cls;
        s.label = cls;
        s.unit = QStringLiteral("/s");
        s.color = classColors[std::size_t(c)];
        s.chart = 1;
        s.metric = {Metric::ClassErrors, c};
        s.hideWhenZero = true;
        s.needsClassData = true;
        specs.push_back(s);
    }
    return specs;
}

QColor endpointColor(int i)
{
    static const std::array<QColor, 10> palette = {Blue,
                                                   Amber,
                                                   Green,
                                                   Crimson,
                                                   Violet,
                                                   Teal,
                                                   QColor(0xa1, 0x62, 0x07),
                                                   Grey,
                                                   QColor(0xdb, 0x27, 0x77),
                                                   QColor(0x0e, 0xa5, 0xe9)};
    return palette[std::size_t(i) % palette.size()];
}

std::vector<SeriesSpec> endpointSeries(const QStringList &names)
{
    std::vector<SeriesSpec> specs;
    const std::array<std::pair<const char *, Metric>, LiveCharts::ChartCount> kinds = {{
        {"endpointSent:", Metric::EndpointSent},
        {"endpointRateLimited:", Metric::EndpointRateLimited},
        {"endpointErrors:", Metric::EndpointErrors},
        {"endpointLatency:", Metric::EndpointLatency},
    }};
    const std::array<const char *, LiveCharts::ChartCount> units = {"req/s", "429/s", "errors/s", "ms"};
    for (int chart = 0; chart < LiveCharts::ChartCount; ++chart) {
        for (int i = 0; i < names.size(); ++i) {
            SeriesSpec s;
            s.name = QString::fromLatin1(kinds[std::size_t(chart)].first) + names.at(i);
            s.label = names.at(i);
            s.unit = QString::fromLatin1(units[std::size_t(chart)]);
            s.color = endpointColor(i);
            s.chart = chart;
            s.metric = {kinds[std::size_t(chart)].second, i};
            specs.push_back(s);
        }
    }
    return specs;
}

std::vector<SeriesSpec> streamingSeries(const QStringList &names)
{
    const auto spec = [](const char *name, const char *label, const char *unit, QColor color, int chart,
                         Metric metric, int index = 0) {
        SeriesSpec s;
        s.name = QString::fromLatin1(name);
        s.label = QString::fromUtf8(label);
        s.unit = QString::fromUtf8(unit);
        s.color = color;
        s.chart = chart;
        s.metric = {metric, index};
        return s;
    };
    std::vector<SeriesSpec> specs;
    specs.push_back(spec("ttftP50", "TTFT p50", "ms", Teal, 0, Metric::TtftP50));
    specs.push_back(spec("ttftP90", "TTFT p90", "ms", Amber, 0, Metric::TtftP90));
    specs.push_back(spec("ttftP99", "TTFT p99", "ms", Crimson, 0, Metric::TtftP99));
    specs.push_back(spec("itlP50", "ITL p50", "ms", Teal, 1, Metric::ItlP50));
    specs.push_back(spec("itlP99", "ITL p99", "ms", Crimson, 1, Metric::ItlP99));
    specs.push_back(spec("streamTokensPerSecond", "Output tokens/s", "tokens/s", Violet, 2,
                         Metric::StreamTokensPerSecond));
    SeriesSpec streams =
        spec("streamsPerSecond", "Streams/s", "streams/s", Green, 2, Metric::StreamsPerSecond);
    streams.right = true;
    streams.style = Qt::DashLine;
    specs.push_back(streams);
    for (int i = 0; i < names.size(); ++i) {
        SeriesSpec s = spec("", "", "ms", endpointColor(i), 3, Metric::EndpointTtft, i);
        s.name = QStringLiteral("endpointTtft:") + names.at(i);
        s.label = names.at(i);
        specs.push_back(s);
    }
    return specs;
}

double spanOf(LiveCharts::Window window)
{
    return window == LiveCharts::Window::LastMinute       ? 60.0
           : window == LiveCharts::Window::LastTenMinutes ? 600.0
                                                          : -1.0;
}

/// The vertical marker lines of one chart, drawn above its series (a child item of the chart).
class MarkerOverlay : public QGraphicsItem
{
public:
    MarkerOverlay(QChart *chart, QValueAxis *axis, const QList<ChartMarker> *markers)
        : QGraphicsItem(chart)
        , m_chart(chart)
        , m_axis(axis)
        , m_markers(markers)
    {
        setZValue(100);
        setAcceptedMouseButtons(Qt::NoButton);
    }

    // The plot area only: a repaint of the overlay must not drag the titles, axes and legend along.
    QRectF boundingRect() const override { return m_chart->plotArea(); }

    bool isEmpty() const { return m_markers->isEmpty(); }

    void geometryChanged()
    {
        prepareGeometryChange();
        update();
    }

    /// The marker line at chart position `x`, or -1.
    double xFor(double second) const
    {
        const QRectF plot = m_chart->plotArea();
        const double span = m_axis->max() - m_axis->min();
        if (span <= 0 || second < m_axis->min() || second > m_axis->max()) {
            return -1;
        }
        return plot.left() + (second - m_axis->min()) / span * plot.width();
    }

    void paint(QPainter *painter, const QStyleOptionGraphicsItem *, QWidget *) override
    {
        const QRectF plot = m_chart->plotArea();
        if (plot.isEmpty() || m_markers->isEmpty()) {
            return;
        }
        QFont font = painter->font();
        font.setPointSizeF(std::max(6.0, font.pointSizeF() * 0.8));
        painter->setFont(font);
        const QFontMetricsF metrics(font);
        double lastLabelRight = -1e9;
        for (const ChartMarker &m : *m_markers) {
            const double x = xFor(m.second);
            if (x < 0) {
                continue;
            }
            QPen pen(ChartMarker::color(m.kind));
            pen.setStyle(Qt::DashLine);
            pen.setWidthF(1.2);
            painter->setPen(pen);
            painter->drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()));
            // A label where there is room; the hover text names every marker anyway.
            const QString label = metrics.elidedText(m.text, Qt::ElideRight, 150);
            if (x + 3 > lastLabelRight + 6) {
                painter->drawText(QPointF(x + 3, plot.top() + metrics.ascent() + 1), label);
                lastLabelRight = x + 3 + metrics.horizontalAdvance(label);
            }
        }
    }

private:
    QChart *m_chart;
    QValueAxis *m_axis;
    const QList<ChartMarker> *m_markers;
};

/// The charts of one view, their axes and series, and the marker overlays.
struct Page
{
    std::array<QChart *, LiveCharts::ChartCount> charts{};
    std::array<QValueAxis *, LiveCharts::ChartCount> x{};
    std::array<QValueAxis *, LiveCharts::ChartCount> left{};
    std::array<QValueAxis *, LiveCharts::ChartCount> right{};
    std::array<MarkerOverlay *, LiveCharts::ChartCount> overlays{};
    std::vector<SeriesSpec> specs;
    std::vector<QLineSeries *> series;
    std::vector<char> shown; ///< series currently visible (avoids needless legend relayouts)
};

/// Whole-number labels; the time axis says its unit in its labels ("30 s") instead of a title line.
QValueAxis *makeAxis(const QString &title, Qt::Alignment alignment)
{
    auto *axis = new QValueAxis;
    axis->setTitleText(title);
    axis->setLabelFormat(alignment == Qt::AlignBottom ? QStringLiteral("%.0f s") : QStringLiteral("%.0f"));
    return axis;
}

void setSeries(Page &page, std::vector<SeriesSpec> specs)
{
    for (QLineSeries *series : page.series) {
        for (QChart *chart : page.charts) {
            if (chart->series().contains(series)) {
                chart->removeSeries(series);
            }
        }
        delete series;
    }
    page.series.clear();
    page.specs = std::move(specs);
    for (const SeriesSpec &spec : page.specs) {
        auto *series = new QLineSeries;
        series->setObjectName(spec.name);
        series->setName(spec.label);
        series->setUseOpenGL(false);
        QChart *chart = page.charts[std::size_t(spec.chart)];
        chart->addSeries(series);
        series->attachAxis(page.x[std::size_t(spec.chart)]);
        series->attachAxis(spec.right ? page.right[std::size_t(spec.chart)]
                                      : page.left[std::size_t(spec.chart)]);
        page.series.push_back(series);
    }
    page.shown.assign(page.series.size(), 1);
}

void applyPens(Page &page)
{
    for (std::size_t i = 0; i < page.series.size(); ++i) {
        QPen pen(page.specs[i].color);
        pen.setWidthF(2.0);
        pen.setStyle(page.specs[i].style);
        page.series[i]->setPen(pen);
    }
}

/// Dims the legend entries of series the operator hid (the theme resets label brushes).
void applyLegendState(Page &page, const QSet<QString> &hidden)
{
    for (std::size_t i = 0; i < page.series.size(); ++i) {
        QLineSeries *series = page.series[i];
        QChart *chart = page.charts[std::size_t(page.specs[i].chart)];
        const bool off = hidden.contains(page.specs[i].name);
        for (QLegendMarker *marker : chart->legend()->markers(series)) {
            QColor label = chart->legend()->labelColor();
            QColor swatch = page.specs[i].color;
            if (off) {
                label.setAlpha(90);
                swatch.setAlpha(60);
            }
            marker->setLabelBrush(label);
            marker->setBrush(swatch);
            marker->setPen(QPen(swatch));
        }
    }
}

void applyTheme(Page &page, bool dark, const QSet<QString> &hidden)
{
    for (QChart *chart : page.charts) {
        chart->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
        chart->setAnimationOptions(QChart::NoAnimation);
        QFont title = chart->titleFont();
        title.setBold(true);
        title.setPointSizeF(std::max(7.0, title.pointSizeF() * 0.85));
        chart->setTitleFont(title);
        QFont legend = chart->legend()->font();
        legend.setPointSizeF(std::max(7.0, legend.pointSizeF() * 0.85));
        chart->legend()->setFont(legend);
        // Small axis titles: four charts share the tab, and the labels need the room.
        for (QAbstractAxis *axis : chart->axes()) {
            QFont font = axis->titleFont();
            font.setBold(false);
            font.setPointSizeF(std::max(7.0, font.pointSizeF() * 0.75));
            axis->setTitleFont(font);
        }
    }
    applyPens(page);
    applyLegendState(page, hidden);
}

Page makePage(int index, const std::vector<SeriesSpec> &specs, bool dark, const QList<ChartMarker> *markers)
{
    Page page;
    for (int c = 0; c < LiveCharts::ChartCount; ++c) {
        const ChartSpec &spec = chartSpecs(index)[std::size_t(c)];
        auto *chart = new QChart;
        chart->setTitle(QString::fromUtf8(spec.title));
        chart->setAnimationOptions(QChart::NoAnimation);
        chart->legend()->setAlignment(Qt::AlignBottom);
        chart->setMargins(QMargins(2, 2, 2, 2));
        page.charts[std::size_t(c)] = chart;
        page.x[std::size_t(c)] = makeAxis(QString(), Qt::AlignBottom); // labels say "10 s": no title line
        chart->addAxis(page.x[std::size_t(c)], Qt::AlignBottom);
        page.left[std::size_t(c)] = makeAxis(QString::fromUtf8(spec.left), Qt::AlignLeft);
        chart->addAxis(page.left[std::size_t(c)], Qt::AlignLeft);
        if (spec.right) {
            page.right[std::size_t(c)] = makeAxis(QString::fromUtf8(spec.right), Qt::AlignRight);
            page.right[std::size_t(c)]->setGridLineVisible(false); // one grid per chart: the left axis's
            chart->addAxis(page.right[std::size_t(c)], Qt::AlignRight);
        }
        page.overlays[std::size_t(c)] = new MarkerOverlay(chart, page.x[std::size_t(c)], markers);
        QObject::connect(chart, &QChart::plotAreaChanged, chart,
                         [overlay = page.overlays[std::size_t(c)]] { overlay->geometryChanged(); });
    }
    setSeries(page, specs);
    applyTheme(page, dark, {});
    return page;
}

/// A 1-2-5 (or, for seconds, 15/30/60-friendly) step at least `minimum` that splits `span` into
/// about `parts` intervals.
double niceStep(double span, int parts, double minimum, bool seconds)
{
    const double raw = std::max(minimum, span / parts);
    if (seconds) {
        for (const double step : {1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
                                  3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0}) {
            if (step >= raw) {
                return step;
            }
        }
    }
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    for (const double factor : {1.0, 2.0, 5.0}) {
        if (factor * magnitude >= raw) {
            return factor * magnitude;
        }
    }
    return 10.0 * magnitude;
}

// Ticks on round values anchored at zero (whole numbers, so the "%.0f" labels never repeat). Each
// setter makes Qt Charts lay the axis out again, labels and all: only what changed is set.
void setTicks(QValueAxis *axis, double min, double max, double step)
{
    if (axis->tickType() != QValueAxis::TicksDynamic) {
        axis->setTickType(QValueAxis::TicksDynamic);
    }
    if (axis->tickAnchor() != 0) {
        axis->setTickAnchor(0);
    }
    if (axis->tickInterval() != step) {
        axis->setTickInterval(step);
    }
    if (axis->min() != min || axis->max() != max) {
        axis->setRange(min, max);
    }
}

/// The points of every series of a page for one window, and the shared x range.
struct Frame
{
    std::vector<QList<QPointF>> points;
    double xMin = 0, xMax = 60;
};

Frame buildFrame(const ChartHistory &history, const std::vector<SeriesSpec> &specs, LiveCharts::Window window)
{
    Frame f;
    f.points.resize(specs.size());
    const double span = spanOf(window);
    const bool classes = history.hasClassData();
    bool any = false;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const SeriesSpec &spec = specs[i];
        if ((spec.needsClassData && !classes) || (spec.withoutClassData && classes)) {
            continue;
        }
        QList<QPointF> points = history.points(spec.metric, span, LiveCharts::MaxPoints);
        if (spec.hideWhenZero &&
            std::none_of(points.cbegin(), points.cend(), [](const QPointF &p) { return p.y() > 0; })) {
            points.clear();
        }
        if (!points.isEmpty()) {
            f.xMin = any ? std::min(f.xMin, points.front().x()) : points.front().x();
            f.xMax = any ? std::max(f.xMax, points.back().x()) : points.back().x();
            any = true;
        }
        f.points[i] = std::move(points);
    }
    // One x range for every chart so they line up.
    if (!any) {
        f.xMin = 0;
        f.xMax = span > 0 ? span : 60.0;
    } else if (f.xMax - f.xMin < 1.0) {
        f.xMax = f.xMin + 1.0;
    }
    return f;
}

/// Scales a y axis to 0..top on round ticks. True when its widest label got wider or narrower (more
/// digits): Qt Charts sizes an axis from its labels at layout time and elides them ("…") when they
/// outgrow it, so the caller then lays the chart out again.
/// Pixels of plot height each y-axis interval needs: Qt Charts elides ("…") the labels of an axis
/// whose ticks are closer than a line of text.
constexpr double PixelsPerInterval = 26;

/// Scales a y axis to 0..top on round ticks, as many as `plotHeight` has room for (at most 4
/// intervals). True when its widest label got wider or narrower (more digits), so the caller makes
/// Qt Charts measure the axis again.
bool scaleY(QValueAxis *axis, double top, double plotHeight, bool share = false)
{
    const int room = plotHeight > 0 ? std::clamp(int(plotHeight / PixelsPerInterval), 1, 4) : 4;
    double step = 0;
    int intervals = 0;
    if (share) {
        // 0-100 %: in quarters, halves, or whole.
        intervals = room >= 4 ? 4 : room >= 2 ? 2 : 1;
        step = 100.0 / intervals;
    } else {
        step = niceStep(std::max(top, 1.0), room, 1.0, false);
        intervals = int(std::max(1.0, std::ceil(top * 1.02 / step)));
    }
    const double oldWidth = std::floor(std::log10(std::max(1.0, axis->max())));
    // Fixed ticks from 0: a round step divides the range exactly. (Dynamic ticks, set while the
    // range changes, can leave Qt Charts laying out hundreds of labels for a moment, all elided.)
    if (axis->tickType() != QValueAxis::TicksFixed) {
        axis->setTickType(QValueAxis::TicksFixed);
    }
    if (axis->min() != 0 || axis->max() != intervals * step) {
        axis->setRange(0, intervals * step);
    }
    if (axis->tickCount() != intervals + 1) {
        axis->setTickCount(intervals + 1);
    }
    return std::floor(std::log10(std::max(1.0, axis->max()))) != oldWidth;
}

/// Makes Qt Charts measure the axes of chart `c` again. It sizes an axis from its labels when the
/// chart is laid out, and a range change while the chart has no geometry yet (hidden, not laid out)
/// leaves the old size, so wider labels get elided ("…"). A new label format is what makes it measure
/// again; the two formats print the same text.
void remeasureAxes(Page &page, int c)
{
    for (QValueAxis *axis : {page.left[std::size_t(c)], page.right[std::size_t(c)], page.x[std::size_t(c)]}) {
        if (axis) {
            QString format = axis->labelFormat();
            if (format.contains(QLatin1String("%.0lf"))) {
                format.replace(QLatin1String("%.0lf"), QLatin1String("%.0f"));
            } else {
                format.replace(QLatin1String("%.0f"), QLatin1String("%.0lf"));
            }
            axis->setLabelFormat(format);
        }
    }
}

void applyFrame(Page &page, const Frame &frame, const QSet<QString> &hidden)
{
    std::array<double, LiveCharts::ChartCount> topLeft{}, topRight{};
    for (std::size_t i = 0; i < page.series.size(); ++i) {
        const SeriesSpec &spec = page.specs[i];
        QLineSeries *series = page.series[i];
        const QList<QPointF> &points = frame.points[i];
        series->replace(points);
        const bool hasData =
            !points.isEmpty() || !(spec.hideWhenZero || spec.needsClassData || spec.withoutClassData);
        const bool off = hidden.contains(spec.name);
        const bool show = hasData && !off;
        if (bool(page.shown[i]) != show) {
            series->setVisible(show);
            page.shown[i] = show;
            // A hidden series keeps its legend entry (dimmed), so a click brings it back.
            if (hasData) {
                for (QLegendMarker *marker :
                     page.charts[std::size_t(spec.chart)]->legend()->markers(series)) {
                    marker->setVisible(true);
                }
            }
        }
        if (show) {
            double top = 0;
            for (const QPointF &p : points) {
                top = std::max(top, p.y());
            }
            double &slot = spec.right ? topRight[std::size_t(spec.chart)] : topLeft[std::size_t(spec.chart)];
            slot = std::max(slot, top);
        }
    }
    const double xStep = niceStep(frame.xMax - frame.xMin, 6, 1.0, true);
    for (int c = 0; c < LiveCharts::ChartCount; ++c) {
        const double oldXWidth = std::floor(std::log10(std::max(1.0, page.x[std::size_t(c)]->max())));
        setTicks(page.x[std::size_t(c)], frame.xMin, frame.xMax, xStep);
        bool relayout = std::floor(std::log10(std::max(1.0, frame.xMax))) != oldXWidth;
        const double plotHeight = page.charts[std::size_t(c)]->plotArea().height();
        relayout = scaleY(page.left[std::size_t(c)], topLeft[std::size_t(c)], plotHeight) || relayout;
        if (QValueAxis *right = page.right[std::size_t(c)]) {
            if (right->titleText().startsWith(QLatin1Char('%'))) {
                scaleY(right, 100, plotHeight, true); // a share: always the whole range
            } else {
                relayout = scaleY(right, topRight[std::size_t(c)], plotHeight) || relayout;
            }
        }
        if (relayout) {
            remeasureAxes(page, c);
        }
        if (!page.overlays[std::size_t(c)]->isEmpty()) {
            page.overlays[std::size_t(c)]->update();
        }
    }
}

bool isDark(const QPalette &palette)
{
    return palette.color(QPalette::Window).lightness() < 128;
}

/// Calls back on palette changes (light/dark switch), and on mouse moves over a chart (hover values).
class EventWatcher : public QObject
{
public:
    EventWatcher(QObject *parent, std::function<bool(QObject *, QEvent *)> onEvent)
        : QObject(parent)
        , m_onEvent(std::move(onEvent))
    {
    }

    bool eventFilter(QObject *watched, QEvent *event) override
    {
        return m_onEvent(watched, event) || QObject::eventFilter(watched, event);
    }

private:
    std::function<bool(QObject *, QEvent *)> m_onEvent;
};

QString formatValue(double v)
{
    if (std::abs(v) >= 100 || v == std::floor(v)) {
        return QLocale(QLocale::English).toString(qint64(std::llround(v)));
    }
    return QString::number(v, 'f', 1);
}

/// The columns a history CSV starts with (Metrics::writeHistoryCsv); every later version only appends.
const char *const CsvHeader = "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                              "output_tokens";

/// One column of a history CSV after the first nine: where its value goes.
struct CsvColumn
{
    const char *name;
    bool integer;
    std::function<void(SecondSample &, double)> set;
};

const std::vector<CsvColumn> &optionalCsvColumns()
{
    static const std::vector<CsvColumn> columns = {
        {"p50_ms", false,
         [](SecondSample &s, double v) {
             s.p50Ms = v;
         }},
        {"p90_ms", false,
         [](SecondSample &s, double v) {
             s.p90Ms = v;
         }},
        {"p99_ms", false,
         [](SecondSample &s, double v) {
             s.p99Ms = v;
         }},
        {"streams", true,
         [](SecondSample &s, double v) {
             s.streams = qint64(v);
         }},
        {"ttft_p50_ms", false,
         [](SecondSample &s, double v) {
             s.ttftP50Ms = v;
         }},
        {"ttft_p90_ms", false,
         [](SecondSample &s, double v) {
             s.ttftP90Ms = v;
         }},
        {"ttft_p99_ms", false,
         [](SecondSample &s, double v) {
             s.ttftP99Ms = v;
         }},
        {"itl_p50_ms", false,
         [](SecondSample &s, double v) {
             s.itlP50Ms = v;
         }},
        {"itl_p99_ms", false,
         [](SecondSample &s, double v) {
             s.itlP99Ms = v;
         }},
        {"stream_output_tokens_per_s", true,
         [](SecondSample &s, double v) {
             s.streamOutputTokens = qint64(v);
         }},
        {"cost_usd", false,
         [](SecondSample &s, double v) {
             s.costUsd = v;
         }},
        {"spent_usd", false,
         [](SecondSample &s, double v) {
             s.spentUsd = v;
         }},
    };
    return columns;
}

} // namespace

struct LiveCharts::Private
{
    LiveCharts *q = nullptr;
    ChartHistory history;
    QList<ChartMarker> markers;
    Window window = Window::LastMinute;
    View view = View::Overview;
    QComboBox *windowCombo = nullptr;
    QComboBox *viewCombo = nullptr;
    QStackedWidget *stack = nullptr;
    std::array<Page, PageCount> pages;
    std::array<std::array<QChartView *, ChartCount>, PageCount> views{};
    std::array<bool, PageCount> dirty{{true, true, true}};
    QStringList pageEndpoints; ///< the endpoints the per-endpoint page has series for
    QSet<QString> hidden;      ///< series the operator hid with a legend click
    QTimer *timer = nullptr;
    QLabel *hoverLabel = nullptr;
    double lastPlotHeight = 0; ///< of the charts on screen (they share one size in the grid)
    bool dark = false;

    void scheduleRefresh();
    void refresh();
    void refreshPage(int page);
    void ensure(int page) const;
    void syncEndpointSeries();
    void connectLegend(int page);
    void toggle(const QString &name);
    void hover(int page, int chart, const QPoint &pos);
    int pageOf(const QString &seriesName) const;
};

void LiveCharts::Private::scheduleRefresh()
{
    dirty = {true, true, true};
    if (!timer->isActive()) {
        timer->start();
    }
}

void LiveCharts::Private::refresh()
{
    timer->stop();
    // Hidden behind another tab of a window on screen: redraw when shown again.
    if (q->QWidget::window()->isVisible() && !q->isVisible()) {
        return;
    }
    refreshPage(int(view));
}

void LiveCharts::Private::refreshPage(int page)
{
    if (page == int(View::PerEndpoint) || page == int(View::Streaming)) {
        syncEndpointSeries();
    }
    applyFrame(pages[std::size_t(page)], buildFrame(history, pages[std::size_t(page)].specs, window), hidden);
    dirty[std::size_t(page)] = false;
}

void LiveCharts::Private::ensure(int page) const
{
    if (dirty[std::size_t(page)]) {
        const_cast<Private *>(this)->refreshPage(page);
    }
}

void LiveCharts::Private::syncEndpointSeries()
{
    if (history.endpointNames() == pageEndpoints) {
        return;
    }
    pageEndpoints = history.endpointNames();
    for (const View view : {View::PerEndpoint, View::Streaming}) {
        Page &page = pages[std::size_t(view)];
        setSeries(page,
                  view == View::PerEndpoint ? endpointSeries(pageEndpoints) : streamingSeries(pageEndpoints));
        applyPens(page);
        applyLegendState(page, hidden);
        connectLegend(int(view));
        dirty[std::size_t(view)] = true;
    }
}

void LiveCharts::Private::connectLegend(int index)
{
    Page &page = pages[std::size_t(index)];
    for (std::size_t i = 0; i < page.series.size(); ++i) {
        QChart *chart = page.charts[std::size_t(page.specs[i].chart)];
        for (QLegendMarker *marker : chart->legend()->markers(page.series[i])) {
            QObject::connect(marker, &QLegendMarker::clicked, q,
                             [this, name = page.specs[i].name] { toggle(name); });
        }
    }
}

void LiveCharts::Private::toggle(const QString &name)
{
    q->setSeriesHidden(name, !hidden.contains(name));
}

int LiveCharts::Private::pageOf(const QString &seriesName) const
{
    for (int p = 0; p < PageCount; ++p) {
        for (const SeriesSpec &spec : pages[std::size_t(p)].specs) {
            if (spec.name == seriesName) {
                return p;
            }
        }
    }
    if (seriesName.startsWith(QLatin1String("endpointTtft"))) {
        return int(View::Streaming);
    }
    return seriesName.startsWith(QLatin1String("endpoint")) ? int(View::PerEndpoint) : int(View::Overview);
}

void LiveCharts::Private::hover(int page, int chartIndex, const QPoint &pos)
{
    QChartView *view = views[std::size_t(page)][std::size_t(chartIndex)];
    QChart *chart = pages[std::size_t(page)].charts[std::size_t(chartIndex)];
    const QPointF inChart = chart->mapFromScene(view->mapToScene(pos));
    const QRectF plot = chart->plotArea();
    QValueAxis *axis = pages[std::size_t(page)].x[std::size_t(chartIndex)];
    if (!plot.contains(inChart) || plot.width() <= 0) {
        hoverLabel->hide();
        return;
    }
    const double second =
        axis->min() + (inChart.x() - plot.left()) / plot.width() * (axis->max() - axis->min());
    const QString text = q->hoverText(chartIndex, second);
    if (text.isEmpty()) {
        hoverLabel->hide();
        return;
    }
    hoverLabel->setParent(view->viewport());
    hoverLabel->setText(text);
    hoverLabel->adjustSize();
    QPoint at = pos + QPoint(14, 14);
    const QSize room = view->viewport()->size();
    if (at.x() + hoverLabel->width() > room.width()) {
        at.setX(std::max(0, pos.x() - 14 - hoverLabel->width()));
    }
    if (at.y() + hoverLabel->height() > room.height()) {
        at.setY(std::max(0, pos.y() - 14 - hoverLabel->height()));
    }
    hoverLabel->move(at);
    hoverLabel->show();
    hoverLabel->raise();
}

LiveCharts::LiveCharts(QWidget *parent)
    : QWidget(parent)
    , d(std::make_unique<Private>())
{
    d->q = this;
    d->dark = isDark(palette());

    d->timer = new QTimer(this);
    d->timer->setSingleShot(true);
    d->timer->setInterval(RefreshDelayMs);
    connect(d->timer, &QTimer::timeout, this, [this] { d->refresh(); });

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    auto *top = new QHBoxLayout;
    auto *viewLabel = new QLabel(tr("&View:"), this);
    d->viewCombo = new QComboBox(this);
    d->viewCombo->setObjectName(QStringLiteral("viewCombo"));
    d->viewCombo->addItem(tr("Overview"));
    d->viewCombo->addItem(tr("Per endpoint"));
    d->viewCombo->addItem(tr("Streaming (TTFT)"));
    viewLabel->setBuddy(d->viewCombo);
    auto *windowLabel = new QLabel(tr("&Window:"), this);
    d->windowCombo = new QComboBox(this);
    d->windowCombo->setObjectName(QStringLiteral("windowCombo"));
    d->windowCombo->addItem(tr("Last minute"));
    d->windowCombo->addItem(tr("Last 10 minutes"));
    d->windowCombo->addItem(tr("Whole run"));
    windowLabel->setBuddy(d->windowCombo);
    auto *hint =
        new QLabel(tr("Hover a chart for values; click a legend entry to hide or show its line."), this);
    hint->setEnabled(false);
    top->addWidget(viewLabel);
    top->addWidget(d->viewCombo);
    top->addSpacing(12);
    top->addWidget(windowLabel);
    top->addWidget(d->windowCombo);
    top->addSpacing(12);
    top->addWidget(hint, 1);
    layout->addLayout(top);
    connect(d->windowCombo, &QComboBox::currentIndexChanged, this,
            [this](int index) { setWindow(Window(std::clamp(index, 0, 2))); });
    connect(d->viewCombo, &QComboBox::currentIndexChanged, this,
            [this](int index) { setView(View(std::clamp(index, 0, PageCount - 1))); });

    d->hoverLabel = new QLabel(this);
    d->hoverLabel->setObjectName(QStringLiteral("chartHover"));
    d->hoverLabel->setForegroundRole(QPalette::ToolTipText);
    d->hoverLabel->setBackgroundRole(QPalette::ToolTipBase);
    d->hoverLabel->setAutoFillBackground(true);
    d->hoverLabel->setFrameShape(QFrame::Box);
    d->hoverLabel->setMargin(4);
    d->hoverLabel->setAttribute(Qt::WA_TransparentForMouseEvents);
    d->hoverLabel->hide();

    d->stack = new QStackedWidget(this);
    layout->addWidget(d->stack, 1);
    const std::array<std::vector<SeriesSpec>, PageCount> specs = {overviewSeries(), endpointSeries({}),
                                                                  streamingSeries({})};
    for (int p = 0; p < PageCount; ++p) {
        d->pages[std::size_t(p)] = makePage(p, specs[std::size_t(p)], d->dark, &d->markers);
        auto *pageWidget = new QWidget(d->stack);
        pageWidget->setObjectName(p == 0   ? QStringLiteral("overviewPage")
                                  : p == 1 ? QStringLiteral("perEndpointPage")
                                           : QStringLiteral("streamingPage"));
        auto *grid = new QGridLayout(pageWidget);
        grid->setContentsMargins(0, 0, 0, 0);
        grid->setSpacing(2);
        for (int c = 0; c < ChartCount; ++c) {
            QChart *chart = d->pages[std::size_t(p)].charts[std::size_t(c)];
            auto *view = new QChartView(chart, pageWidget);
            view->setObjectName(QString::fromLatin1(chartSpecs(p)[std::size_t(c)].name));
            // Live views draw without antialiasing: at every refresh it costs the GUI thread more than
            // half of its time in repaints (measured with sluice --measure-stall); exported images keep it.
            view->setRenderHint(QPainter::Antialiasing, false);
            view->setViewportUpdateMode(QGraphicsView::MinimalViewportUpdate);
            view->setMinimumSize(220, 150);
            view->viewport()->setMouseTracking(true);
            view->viewport()->installEventFilter(new EventWatcher(view, [this, p, c](QObject *,
                                                                                     QEvent *event) {
                if (event->type() == QEvent::Resize || event->type() == QEvent::Show) {
                    // Laid out at a new size: measure the axes again once the chart has its geometry.
                    QTimer::singleShot(0, this, [this, p, c] { remeasureAxes(d->pages[std::size_t(p)], c); });
                } else if (event->type() == QEvent::MouseMove) {
                    d->hover(p, c, static_cast<QMouseEvent *>(event)->position().toPoint());
                } else if (event->type() == QEvent::Leave) {
                    d->hoverLabel->hide();
                }
                return false;
            }));
            // The y axes get as many ticks as the plot's height has room for: scale again when it changes.
            connect(chart, &QChart::plotAreaChanged, this, [this](const QRectF &area) {
                if (std::abs(area.height() - d->lastPlotHeight) >= 1) {
                    d->lastPlotHeight = area.height();
                    d->scheduleRefresh();
                }
            });
            // Make the chart (and through it its series) reachable with findChildren() for tests and the
            // main window. The scene still owns and deletes it; a deleted QObject child just leaves the list.
            chart->setParent(view);
            d->views[std::size_t(p)][std::size_t(c)] = view;
            grid->addWidget(view, c / 2, c % 2);
        }
        d->stack->addWidget(pageWidget);
        d->connectLegend(p);
    }

    installEventFilter(new EventWatcher(this, [this](QObject *, QEvent *event) {
        if (event->type() == QEvent::PaletteChange) {
            const bool dark = isDark(palette());
            if (dark != d->dark) {
                d->dark = dark;
                for (Page &page : d->pages) {
                    applyTheme(page, dark, d->hidden);
                }
            }
        }
        return false;
    }));
    d->refreshPage(0);
}

LiveCharts::~LiveCharts() = default;

void LiveCharts::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    if (d->dirty[std::size_t(d->view)]) {
        d->refreshPage(int(d->view));
    }
}

void LiveCharts::addSnapshot(const Sluice::MetricsSnapshot &snapshot)
{
    d->history.addSnapshot(snapshot);
    d->scheduleRefresh();
}

void LiveCharts::setHistory(const std::vector<Sluice::SecondSample> &history)
{
    d->history.setHistory(history);
    d->scheduleRefresh();
}

void LiveCharts::clear()
{
    d->history.clear();
    d->markers.clear();
    d->scheduleRefresh();
}

void LiveCharts::addMarker(const ChartMarker &marker)
{
    d->markers.append(marker);
    d->scheduleRefresh();
}

QList<ChartMarker> LiveCharts::markers() const
{
    return d->markers;
}

void LiveCharts::setWindow(Window window)
{
    if (window == d->window) {
        return;
    }
    d->window = window;
    {
        const QSignalBlocker blocker(d->windowCombo);
        d->windowCombo->setCurrentIndex(int(window));
    }
    d->scheduleRefresh();
    Q_EMIT windowChanged(window);
}

LiveCharts::Window LiveCharts::window() const
{
    return d->window;
}

void LiveCharts::setView(View view)
{
    if (view == d->view) {
        return;
    }
    d->view = view;
    {
        const QSignalBlocker blocker(d->viewCombo);
        d->viewCombo->setCurrentIndex(int(view));
    }
    d->hoverLabel->hide();
    d->ensure(int(view));
    d->stack->setCurrentIndex(int(view));
    Q_EMIT viewChanged(view);
}

LiveCharts::View LiveCharts::view() const
{
    return d->view;
}

int LiveCharts::pointCount(Series series) const
{
    return int(points(series).size());
}

QList<QPointF> LiveCharts::points(Series series) const
{
    return points(QString::fromLatin1(overviewNames()[std::size_t(series)]));
}

QList<QPointF> LiveCharts::points(const QString &seriesName) const
{
    const int page = d->pageOf(seriesName);
    d->ensure(page);
    const Page &p = d->pages[std::size_t(page)];
    for (std::size_t i = 0; i < p.specs.size(); ++i) {
        if (p.specs[i].name == seriesName) {
            return p.series[i]->points();
        }
    }
    return {};
}

QStringList LiveCharts::seriesNames(View view, int chart) const
{
    d->ensure(int(view));
    QStringList names;
    const Page &p = d->pages[std::size_t(view)];
    for (std::size_t i = 0; i < p.specs.size(); ++i) {
        if (p.specs[i].chart == chart) {
            names.append(p.specs[i].name);
        }
    }
    return names;
}

bool LiveCharts::isSeriesHidden(const QString &seriesName) const
{
    return d->hidden.contains(seriesName);
}

void LiveCharts::setSeriesHidden(const QString &seriesName, bool hidden)
{
    if (hidden == d->hidden.contains(seriesName)) {
        return;
    }
    if (hidden) {
        d->hidden.insert(seriesName);
    } else {
        d->hidden.remove(seriesName);
    }
    const int page = d->pageOf(seriesName);
    applyLegendState(d->pages[std::size_t(page)], d->hidden);
    d->refreshPage(page);
}

QString LiveCharts::hoverText(int chart, double second) const
{
    const int page = int(d->view);
    d->ensure(page);
    const Page &p = d->pages[std::size_t(page)];
    QStringList lines;
    double tolerance = 0.5;
    for (std::size_t i = 0; i < p.specs.size(); ++i) {
        const SeriesSpec &spec = p.specs[i];
        if (spec.chart != chart || !p.shown[i]) {
            continue;
        }
        const QList<QPointF> points = p.series[i]->points();
        if (points.isEmpty()) {
            continue;
        }
        if (points.size() > 1) {
            tolerance =
                std::max(tolerance, (points.back().x() - points.front().x()) / double(points.size() - 1) / 2);
        }
        // The nearest point, when it is near enough to be "at" this second.
        const auto it = std::lower_bound(points.cbegin(), points.cend(), second,
                                         [](const QPointF &pt, double x) { return pt.x() < x; });
        const QPointF *best = nullptr;
        if (it != points.cend()) {
            best = &*it;
        }
        if (it != points.cbegin() && (!best || second - (it - 1)->x() < best->x() - second)) {
            best = &*(it - 1);
        }
        if (best && std::abs(best->x() - second) <= tolerance + 1e-9) {
            lines.append(QStringLiteral("%1: %2 %3").arg(spec.label, formatValue(best->y()), spec.unit));
        }
    }
    for (const ChartMarker &m : std::as_const(d->markers)) {
        if (std::abs(m.second - second) <= tolerance + 1e-9) {
            lines.append(QStringLiteral("▲ %1 s: %2").arg(formatValue(m.second), m.text));
        }
    }
    if (lines.isEmpty()) {
        return QString();
    }
    lines.prepend(tr("%1 s since the start").arg(formatValue(std::round(second * 10) / 10)));
    return lines.join(QLatin1Char('\n'));
}

QImage LiveCharts::render(const QSize &size) const
{
    return render(size, d->window, {View::Overview});
}

QImage LiveCharts::render(const QSize &size, Window window, const QList<View> &views) const
{
    QImage image(size, QImage::Format_ARGB32_Premultiplied);
    if (size.isEmpty() || views.isEmpty()) {
        return image;
    }
    image.fill(palette().color(QPalette::Window));

    // Separate charts, sized to the image, so the live view is left untouched. The scene owns (and
    // deletes) the charts.
    QGraphicsScene scene;
    const int rowHeight = size.height() / int(2 * views.size());
    const int columnWidth = size.width() / 2;
    for (int v = 0; v < views.size(); ++v) {
        const int index = int(views.at(v));
        const std::vector<SeriesSpec> specs =
            index == 0 ? overviewSeries() : endpointSeries(d->history.endpointNames());
        Page page = makePage(index, specs, d->dark, &d->markers);
        applyFrame(page, buildFrame(d->history, page.specs, window), {});
        for (int c = 0; c < ChartCount; ++c) {
            QChart *chart = page.charts[std::size_t(c)];
            scene.addItem(chart);
            const int row = v * 2 + c / 2;
            const int top = row * rowHeight;
            const int h = row + 1 == 2 * views.size() ? size.height() - top : rowHeight;
            const int left = (c % 2) * columnWidth;
            const int w = c % 2 == 1 ? size.width() - left : columnWidth;
            chart->setGeometry(QRectF(left, top, w, h));
            if (QGraphicsLayout *layout = chart->layout()) {
                layout->activate();
            }
            page.overlays[std::size_t(c)]->geometryChanged();
        }
    }
    scene.setSceneRect(0, 0, size.width(), size.height());
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing, true);
    painter.setRenderHint(QPainter::TextAntialiasing, true);
    scene.render(&painter, QRectF(QPointF(0, 0), QSizeF(size)), scene.sceneRect());
    painter.end();
    return image;
}

std::vector<Sluice::SecondSample> LiveCharts::readHistoryCsv(const QString &path, QString *error)
{
    const auto fail = [&](qint64 line, const QString &reason) {
        if (error) {
            *error = line > 0 ? QStringLiteral("%1:%2: %3").arg(path).arg(line).arg(reason)
                              : QStringLiteral("%1: %2").arg(path, reason);
        }
        return std::vector<SecondSample>();
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return fail(0, QStringLiteral("cannot read: %1").arg(file.errorString()));
    }

    constexpr qsizetype CountColumns = 9; // the columns every version has, in this order
    QList<QByteArray> names;
    std::vector<const CsvColumn *> later; ///< by column after the first nine; null: one this does not know
    std::vector<SecondSample> history;
    qint64 lineNumber = 0;
    bool sawHeader = false;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        ++lineNumber;
        if (!sawHeader) {
            // Columns are only ever appended: older files have fewer, newer ones more (unknown ones are
            // skipped).
            if (line != CsvHeader && !line.startsWith(QByteArray(QByteArray(CsvHeader) + ','))) {
                return fail(
                    lineNumber,
                    QStringLiteral("unexpected header, expected \"%1\"").arg(QString::fromLatin1(CsvHeader)));
            }
            names = line.split(',');
            for (qsizetype i = CountColumns; i < names.size(); ++i) {
                const auto &known = optionalCsvColumns();
                const auto it = std::find_if(known.begin(), known.end(),
                                             [&](const CsvColumn &c) { return names.at(i) == c.name; });
                later.push_back(it == known.end() ? nullptr : &*it);
            }
            sawHeader = true;
            continue;
        }
        if (line.isEmpty()) {
            continue;
        }
        const QList<QByteArray> fields = line.split(',');
        if (fields.size() != names.size()) {
            return fail(lineNumber,
                        QStringLiteral("expected %1 fields, found %2").arg(names.size()).arg(fields.size()));
        }
        std::array<qint64, CountColumns> counts{};
        SecondSample s;
        for (qsizetype i = 0; i < fields.size(); ++i) {
            const CsvColumn *column = i < CountColumns ? nullptr : later[std::size_t(i - CountColumns)];
            if (i >= CountColumns && !column) {
                continue;
            }
            bool ok = false;
            const QByteArray field = fields[i].trimmed();
            const bool integer = i < CountColumns || column->integer;
            double value = 0;
            if (integer) {
                const qint64 n = field.toLongLong(&ok);
                value = double(n);
                if (i < CountColumns) {
                    counts[std::size_t(i)] = n;
                }
            } else {
                value = field.toDouble(&ok);
                ok = ok && std::isfinite(value) && value >= 0;
            }
            if (!ok) {
                return fail(lineNumber, QStringLiteral("%1 is not %2: \"%3\"")
                                            .arg(QString::fromLatin1(names.at(i)),
                                                 integer ? QStringLiteral("an integer")
                                                         : QStringLiteral("a non-negative number"),
                                                 QString::fromUtf8(field.left(40))));
            }
            if (column) {
                column->set(s, value);
            }
        }
        s.second = counts[0];
        s.issued = counts[1];
        s.finished = counts[2];
        s.succeeded = counts[3];
        s.overflow = counts[4];
        s.exceptions = counts[5];
        s.errors = counts[6];
        s.inputTokens = counts[7];
        s.outputTokens = counts[8];
        history.push_back(s);
    }
    if (!sawHeader) {
        return fail(
            1, QStringLiteral("empty file, expected the header \"%1\"").arg(QString::fromLatin1(CsvHeader)));
    }
    if (error) {
        error->clear();
    }
    return history;
}

} // namespace Sluice::Gui
