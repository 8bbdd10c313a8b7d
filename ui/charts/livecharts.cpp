#include "livecharts.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QEvent>
#include <QFile>
#include <QGraphicsLayout>
#include <QGraphicsScene>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QPainter>
#include <QTimer>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

namespace Sluice::Gui {

namespace {

constexpr int SeriesCount = 9;
constexpr int RefreshDelayMs = 100; // ≤ 10 redraws a second

int indexOf(LiveCharts::Series series)
{
    return int(series);
}

struct SeriesStyle
{
    const char *objectName;
    const char *label;
    QColor color;
};

// Mid-saturation colors that keep enough contrast on both the light and the dark chart theme.
const std::array<SeriesStyle, SeriesCount> &seriesStyles()
{
    static const std::array<SeriesStyle, SeriesCount> styles = {{
        {"issued", "Issued", QColor(0x3b, 0x82, 0xf6)},
        {"finished", "Finished", QColor(0x22, 0xa3, 0x5a)},
        {"overflow", "Overflow", QColor(0xf5, 0x9e, 0x0b)},
        {"exceptions", "Exceptions (429)", QColor(0xe5, 0x48, 0x4d)},
        {"requestsPerSecond", "Requests/s", QColor(0x22, 0xa3, 0x5a)},
        {"tokensPerSecond", "Tokens/s", QColor(0x8b, 0x5c, 0xf6)},
        {"p50", "p50", QColor(0x14, 0xb8, 0xa6)},
        {"p90", "p90", QColor(0xf5, 0x9e, 0x0b)},
        {"p99", "p99", QColor(0xe1, 0x1d, 0x48)},
    }};
    return styles;
}

/// What the three charts show for one window: the points of every series and the shared x range.
struct Frame
{
    std::array<QList<QPointF>, SeriesCount> points;
    double xMin = 0, xMax = 60;
};

/// The three charts with their series and axes; used by the live widget and by render().
struct ChartSet
{
    QChart *requests = nullptr;
    QChart *throughput = nullptr;
    QChart *latency = nullptr;
    std::array<QLineSeries *, SeriesCount> series{};
    std::array<QValueAxis *, 3> xAxes{};
    QValueAxis *yRequests = nullptr;
    QValueAxis *yRps = nullptr;
    QValueAxis *yTokens = nullptr;
    QValueAxis *yLatency = nullptr;

    std::array<QChart *, 3> charts() const { return {requests, throughput, latency}; }
};

QValueAxis *makeAxis(const QString &title, const char *format)
{
    auto *axis = new QValueAxis;
    axis->setTitleText(title);
    axis->setLabelFormat(QString::fromLatin1(format));
    return axis;
}

QChart *makeChart(const QString &title)
{
    auto *chart = new QChart;
    chart->setTitle(title);
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    return chart;
}

// Theme first (it resets pens and fonts), then the explicit pens.
void applyTheme(ChartSet &set, bool dark)
{
    for (QChart *chart : set.charts()) {
        chart->setTheme(dark ? QChart::ChartThemeDark : QChart::ChartThemeLight);
        chart->setAnimationOptions(QChart::NoAnimation);
    }
    for (int i = 0; i < SeriesCount; ++i) {
        QPen pen(seriesStyles()[std::size_t(i)].color);
        pen.setWidthF(2.0);
        set.series[std::size_t(i)]->setPen(pen);
    }
}

ChartSet makeCharts(bool dark)
{
    ChartSet set;
    set.requests = makeChart(QStringLiteral("Requests per second"));
    set.throughput = makeChart(QStringLiteral("Throughput"));
    set.latency = makeChart(QStringLiteral("Latency"));
    for (int i = 0; i < SeriesCount; ++i) {
        auto *series = new QLineSeries;
        series->setObjectName(QString::fromLatin1(seriesStyles()[std::size_t(i)].objectName));
        series->setName(QString::fromUtf8(seriesStyles()[std::size_t(i)].label));
        series->setUseOpenGL(false);
        set.series[std::size_t(i)] = series;
    }
    const auto chartOf = [&](int i) {
        return i <= indexOf(LiveCharts::Series::Exceptions)        ? set.requests
               : i <= indexOf(LiveCharts::Series::TokensPerSecond) ? set.throughput
                                                                   : set.latency;
    };
    for (int i = 0; i < SeriesCount; ++i) {
        chartOf(i)->addSeries(set.series[std::size_t(i)]);
    }

    const std::array<QChart *, 3> charts = set.charts();
    for (std::size_t c = 0; c < charts.size(); ++c) {
        set.xAxes[c] = makeAxis(QStringLiteral("seconds since start"), "%.0f");
        charts[c]->addAxis(set.xAxes[c], Qt::AlignBottom);
    }
    set.yRequests = makeAxis(QStringLiteral("req/s"), "%.0f");
    set.yRps = makeAxis(QStringLiteral("req/s"), "%.0f");
    set.yTokens = makeAxis(QStringLiteral("tokens/s"), "%.0f");
    set.yLatency = makeAxis(QStringLiteral("ms"), "%.0f");
    set.requests->addAxis(set.yRequests, Qt::AlignLeft);
    set.throughput->addAxis(set.yRps, Qt::AlignLeft);
    set.throughput->addAxis(set.yTokens, Qt::AlignRight);
    set.latency->addAxis(set.yLatency, Qt::AlignLeft);

    for (int i = 0; i < SeriesCount; ++i) {
        QLineSeries *series = set.series[std::size_t(i)];
        QChart *chart = chartOf(i);
        series->attachAxis(chart == set.requests     ? set.xAxes[0]
                           : chart == set.throughput ? set.xAxes[1]
                                                     : set.xAxes[2]);
        if (chart == set.requests) {
            series->attachAxis(set.yRequests);
        } else if (i == indexOf(LiveCharts::Series::RequestsPerSecond)) {
            series->attachAxis(set.yRps);
        } else if (i == indexOf(LiveCharts::Series::TokensPerSecond)) {
            series->attachAxis(set.yTokens);
        } else {
            series->attachAxis(set.yLatency);
        }
    }
    applyTheme(set, dark);
    return set;
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

// Ticks on round values anchored at zero (whole numbers, so the "%.0f" labels never repeat).
void setTicks(QValueAxis *axis, double min, double max, double step)
{
    axis->setTickType(QValueAxis::TicksDynamic);
    axis->setTickAnchor(0);
    axis->setTickInterval(step);
    axis->setRange(min, max);
}

void scaleY(QValueAxis *axis, const Frame &frame, std::initializer_list<LiveCharts::Series> series)
{
    double top = 0;
    for (const LiveCharts::Series s : series) {
        for (const QPointF &p : frame.points[std::size_t(indexOf(s))]) {
            top = std::max(top, p.y());
        }
    }
    const double step = niceStep(std::max(top, 1.0), 4, 1.0, false);
    setTicks(axis, 0, std::max(1.0, std::ceil(top * 1.02 / step)) * step, step);
}

void applyFrame(ChartSet &set, const Frame &frame)
{
    for (int i = 0; i < SeriesCount; ++i) {
        set.series[std::size_t(i)]->replace(frame.points[std::size_t(i)]);
    }
    const double xStep = niceStep(frame.xMax - frame.xMin, 6, 1.0, true);
    for (QValueAxis *axis : set.xAxes) {
        setTicks(axis, frame.xMin, frame.xMax, xStep);
    }
    using S = LiveCharts::Series;
    scaleY(set.yRequests, frame, {S::Issued, S::Finished, S::Overflow, S::Exceptions});
    scaleY(set.yRps, frame, {S::RequestsPerSecond});
    scaleY(set.yTokens, frame, {S::TokensPerSecond});
    scaleY(set.yLatency, frame, {S::P50, S::P90, S::P99});
}

/// Points of `count` items starting at `first`, bucket-averaged (x and y) down to at most `maxPoints`.
QList<QPointF> downsample(std::size_t first, std::size_t count, const std::function<double(std::size_t)> &x,
                          const std::function<double(std::size_t)> &y, std::size_t maxPoints)
{
    QList<QPointF> points;
    if (count == 0) {
        return points;
    }
    const std::size_t bucket = (count + maxPoints - 1) / maxPoints;
    points.reserve(qsizetype((count + bucket - 1) / bucket));
    for (std::size_t start = 0; start < count; start += bucket) {
        const std::size_t end = std::min(count, start + bucket);
        double sx = 0, sy = 0;
        for (std::size_t i = start; i < end; ++i) {
            sx += x(first + i);
            sy += y(first + i);
        }
        const double n = double(end - start);
        points.append(QPointF(sx / n, sy / n));
    }
    return points;
}

bool isDark(const QPalette &palette)
{
    return palette.color(QPalette::Window).lightness() < 128;
}

/// Re-themes the charts when the widget's palette changes (light/dark switch) without a virtual override.
class PaletteWatcher : public QObject
{
public:
    PaletteWatcher(QObject *parent, std::function<void()> onChange)
        : QObject(parent)
        , m_onChange(std::move(onChange))
    {
    }

    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::PaletteChange) {
            m_onChange();
        }
        return QObject::eventFilter(watched, event);
    }

private:
    std::function<void()> m_onChange;
};

const char *const CsvHeader = "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                              "output_tokens,p50_ms,p90_ms,p99_ms";
/// Histories exported before the latency columns existed.
const char *const CsvHeaderWithoutLatency =
    "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,output_tokens";

} // namespace

struct LiveCharts::Private
{
    std::vector<SecondSample> seconds; ///< whole run, sorted by `second`, one entry per second
    Window window = Window::LastMinute;
    QComboBox *combo = nullptr;
    std::array<QChartView *, 3> views{};
    ChartSet charts;
    QTimer *timer = nullptr;
    bool dark = false;

    void merge(const SecondSample &sample);
    Frame frame() const;
    void scheduleRefresh();
    void refresh();
    void flush() const;
};

void LiveCharts::Private::merge(const SecondSample &sample)
{
    if (seconds.empty() || sample.second > seconds.back().second) {
        seconds.push_back(sample);
        return;
    }
    // Later snapshots restate the last seconds with final counts: overwrite in place.
    auto it = std::lower_bound(seconds.begin(), seconds.end(), sample.second,
                               [](const SecondSample &s, qint64 second) { return s.second < second; });
    if (it != seconds.end() && it->second == sample.second) {
        *it = sample;
    } else {
        seconds.insert(it, sample);
    }
}

Frame LiveCharts::Private::frame() const
{
    Frame f;
    const double span = window == Window::LastMinute ? 60.0 : window == Window::LastTenMinutes ? 600.0 : -1.0;
    const std::size_t maxPoints = std::size_t(MaxPoints);

    std::size_t firstSecond = 0;
    if (span > 0 && !seconds.empty()) {
        const qint64 from = seconds.back().second - qint64(span) + 1;
        firstSecond =
            std::size_t(std::lower_bound(seconds.begin(), seconds.end(), from,
                                         [](const SecondSample &s, qint64 v) { return s.second < v; }) -
                        seconds.begin());
    }
    const std::size_t secondCount = seconds.size() - firstSecond;
    const auto sx = [this](std::size_t i) {
        return double(seconds[i].second);
    };
    using Getter = std::function<double(std::size_t)>;
    const std::array<Getter, 6> secondValues = {
        [this](std::size_t i) { return double(seconds[i].issued); },
        [this](std::size_t i) { return double(seconds[i].finished); },
        [this](std::size_t i) { return double(seconds[i].overflow); },
        [this](std::size_t i) { return double(seconds[i].exceptions); },
        [this](std::size_t i) { return double(seconds[i].finished); },
        [this](std::size_t i) { return double(seconds[i].inputTokens + seconds[i].outputTokens); },
    };
    for (std::size_t s = 0; s < secondValues.size(); ++s) {
        f.points[s] = downsample(firstSecond, secondCount, sx, secondValues[s], maxPoints);
    }

    // Latency: the seconds in the window that had successes (a second without any has no percentiles,
    // and a zero would only be noise).
    std::vector<std::size_t> withLatency;
    for (std::size_t i = firstSecond; i < seconds.size(); ++i) {
        if (seconds[i].p50Ms > 0 || seconds[i].p99Ms > 0) {
            withLatency.push_back(i);
        }
    }
    const auto lx = [&](std::size_t i) {
        return double(seconds[withLatency[i]].second);
    };
    f.points[std::size_t(indexOf(Series::P50))] = downsample(
        0, withLatency.size(), lx, [&](std::size_t i) { return seconds[withLatency[i]].p50Ms; }, maxPoints);
    f.points[std::size_t(indexOf(Series::P90))] = downsample(
        0, withLatency.size(), lx, [&](std::size_t i) { return seconds[withLatency[i]].p90Ms; }, maxPoints);
    f.points[std::size_t(indexOf(Series::P99))] = downsample(
        0, withLatency.size(), lx, [&](std::size_t i) { return seconds[withLatency[i]].p99Ms; }, maxPoints);

    // One x range for all three charts so they line up.
    bool any = false;
    for (const QList<QPointF> &points : f.points) {
        if (points.isEmpty()) {
            continue;
        }
        f.xMin = any ? std::min(f.xMin, points.front().x()) : points.front().x();
        f.xMax = any ? std::max(f.xMax, points.back().x()) : points.back().x();
        any = true;
    }
    if (!any) {
        f.xMin = 0;
        f.xMax = span > 0 ? span : 60.0;
    } else if (f.xMax - f.xMin < 1.0) {
        f.xMax = f.xMin + 1.0;
    }
    return f;
}

void LiveCharts::Private::scheduleRefresh()
{
    if (!timer->isActive()) {
        timer->start();
    }
}

void LiveCharts::Private::refresh()
{
    timer->stop();
    applyFrame(charts, frame());
}

void LiveCharts::Private::flush() const
{
    if (timer->isActive()) {
        const_cast<Private *>(this)->refresh();
    }
}

LiveCharts::LiveCharts(QWidget *parent)
    : QWidget(parent)
    , d(std::make_unique<Private>())
{
    d->dark = isDark(palette());

    d->timer = new QTimer(this);
    d->timer->setSingleShot(true);
    d->timer->setInterval(RefreshDelayMs);
    connect(d->timer, &QTimer::timeout, this, [this] { d->refresh(); });

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    auto *top = new QHBoxLayout;
    auto *label = new QLabel(tr("Window:"), this);
    d->combo = new QComboBox(this);
    d->combo->setObjectName(QStringLiteral("windowCombo"));
    d->combo->addItem(tr("Last minute"));
    d->combo->addItem(tr("Last 10 minutes"));
    d->combo->addItem(tr("Whole run"));
    label->setBuddy(d->combo);
    top->addWidget(label);
    top->addWidget(d->combo);
    top->addStretch(1);
    layout->addLayout(top);
    connect(d->combo, &QComboBox::currentIndexChanged, this,
            [this](int index) { setWindow(Window(std::clamp(index, 0, 2))); });

    d->charts = makeCharts(d->dark);
    const std::array<QChart *, 3> charts = d->charts.charts();
    const std::array<const char *, 3> names = {"requestsChart", "throughputChart", "latencyChart"};
    for (std::size_t i = 0; i < charts.size(); ++i) {
        auto *view = new QChartView(charts[i], this);
        view->setObjectName(QString::fromLatin1(names[i]));
        // Live views draw without antialiasing: at every refresh it costs the GUI thread more than
        // half of its time in repaints (measured with sluice --measure-stall); exported images keep it.
        view->setRenderHint(QPainter::Antialiasing, false);
        view->setViewportUpdateMode(QGraphicsView::MinimalViewportUpdate);
        view->setMinimumHeight(160);
        // Make the chart (and through it its series) reachable with findChildren() for tests and the
        // main window. The scene still owns and deletes it; a deleted QObject child just leaves the list.
        charts[i]->setParent(view);
        d->views[i] = view;
        layout->addWidget(view, 1);
    }

    installEventFilter(new PaletteWatcher(this, [this] {
        const bool dark = isDark(palette());
        if (dark != d->dark) {
            d->dark = dark;
            applyTheme(d->charts, dark);
        }
    }));
    d->refresh();
}

LiveCharts::~LiveCharts() = default;

void LiveCharts::addSnapshot(const Sluice::MetricsSnapshot &snapshot)
{
    for (const SecondSample &sample : snapshot.recent) {
        d->merge(sample);
    }
    d->scheduleRefresh();
}

void LiveCharts::setHistory(const std::vector<Sluice::SecondSample> &history)
{
    d->seconds.clear();
    d->seconds.reserve(history.size());
    for (const SecondSample &sample : history) {
        d->merge(sample);
    }
    d->scheduleRefresh();
}

void LiveCharts::clear()
{
    d->seconds.clear();
    d->scheduleRefresh();
}

void LiveCharts::setWindow(Window window)
{
    if (window == d->window) {
        return;
    }
    d->window = window;
    {
        const QSignalBlocker blocker(d->combo);
        d->combo->setCurrentIndex(int(window));
    }
    d->scheduleRefresh();
    Q_EMIT windowChanged(window);
}

LiveCharts::Window LiveCharts::window() const
{
    return d->window;
}

int LiveCharts::pointCount(Series series) const
{
    d->flush();
    return int(d->charts.series[std::size_t(indexOf(series))]->count());
}

QList<QPointF> LiveCharts::points(Series series) const
{
    d->flush();
    return d->charts.series[std::size_t(indexOf(series))]->points();
}

QImage LiveCharts::render(const QSize &size) const
{
    QImage image(size, QImage::Format_ARGB32_Premultiplied);
    if (size.isEmpty()) {
        return image;
    }
    image.fill(palette().color(QPalette::Window));

    // A separate set of charts, sized to the image, so the live view is left untouched. The scene owns
    // (and deletes) the charts.
    QGraphicsScene scene;
    ChartSet set = makeCharts(d->dark);
    applyFrame(set, d->frame());
    const std::array<QChart *, 3> charts = set.charts();
    const int height = size.height() / 3;
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing, true);
    painter.setRenderHint(QPainter::TextAntialiasing, true);
    for (std::size_t i = 0; i < charts.size(); ++i) {
        scene.addItem(charts[i]);
        const int top = int(i) * height;
        const int h = i + 1 == charts.size() ? size.height() - top : height;
        const QRectF rect(0, top, size.width(), h);
        charts[i]->setGeometry(rect);
        if (QGraphicsLayout *layout = charts[i]->layout()) {
            layout->activate();
        }
    }
    scene.setSceneRect(0, 0, size.width(), size.height());
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

    static const char *const fieldNames[] = {"second",        "issued",     "finished", "succeeded",
                                             "overflow",      "exceptions", "errors",   "input_tokens",
                                             "output_tokens", "p50_ms",     "p90_ms",   "p99_ms"};
    constexpr qsizetype CountColumns = 9; // the integer columns; the latency columns are optional
    std::vector<SecondSample> history;
    qint64 lineNumber = 0;
    bool sawHeader = false;
    qsizetype columns = 0;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        ++lineNumber;
        if (!sawHeader) {
            if (line == CsvHeader) {
                columns = 12;
            } else if (line == CsvHeaderWithoutLatency) {
                columns = CountColumns;
            } else {
                return fail(
                    lineNumber,
                    QStringLiteral("unexpected header, expected \"%1\"").arg(QString::fromLatin1(CsvHeader)));
            }
            sawHeader = true;
            continue;
        }
        if (line.isEmpty()) {
            continue;
        }
        const QList<QByteArray> fields = line.split(',');
        if (fields.size() != columns) {
            return fail(lineNumber,
                        QStringLiteral("expected %1 fields, found %2").arg(columns).arg(fields.size()));
        }
        std::array<qint64, CountColumns> counts{};
        std::array<double, 3> latency{};
        for (qsizetype i = 0; i < fields.size(); ++i) {
            bool ok = false;
            const QByteArray field = fields[i].trimmed();
            if (i < CountColumns) {
                counts[std::size_t(i)] = field.toLongLong(&ok);
            } else {
                latency[std::size_t(i - CountColumns)] = field.toDouble(&ok);
                ok = ok && std::isfinite(latency[std::size_t(i - CountColumns)]) &&
                     latency[std::size_t(i - CountColumns)] >= 0;
            }
            if (!ok) {
                return fail(lineNumber, QStringLiteral("%1 is not %2: \"%3\"")
                                            .arg(QString::fromLatin1(fieldNames[i]),
                                                 i < CountColumns ? QStringLiteral("an integer")
                                                                  : QStringLiteral("a non-negative number"),
                                                 QString::fromUtf8(field.left(40))));
            }
        }
        SecondSample s;
        s.second = counts[0];
        s.issued = counts[1];
        s.finished = counts[2];
        s.succeeded = counts[3];
        s.overflow = counts[4];
        s.exceptions = counts[5];
        s.errors = counts[6];
        s.inputTokens = counts[7];
        s.outputTokens = counts[8];
        s.p50Ms = latency[0];
        s.p90Ms = latency[1];
        s.p99Ms = latency[2];
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
