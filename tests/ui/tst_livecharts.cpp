#include "charts/livecharts.h"
#include "metrics/metrics.h"

#include <QAbstractAxis>
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QFile>
#include <QGraphicsTextItem>
#include <QLabel>
#include <QLegend>
#include <QLegendMarker>
#include <QLineSeries>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QValueAxis>

#include <cmath>

using Sluice::MetricsSnapshot;
using Sluice::SecondSample;
using Sluice::Gui::LiveCharts;

namespace {

SecondSample sample(qint64 second, qint64 scale = 1)
{
    SecondSample s;
    s.second = second;
    s.issued = second * scale;
    s.finished = second * scale + 1;
    s.succeeded = second * scale;
    s.overflow = 3 * scale;
    s.exceptions = second % 5;
    s.errors = 1;
    s.inputTokens = 100 * second;
    s.outputTokens = 10 * second;
    return s;
}

MetricsSnapshot snapshot(qint64 from, qint64 to, qint64 scale = 1)
{
    MetricsSnapshot snap;
    snap.elapsedMs = double(to + 1) * 1000.0 + 500.0;
    for (qint64 s = from; s <= to; ++s) {
        snap.recent.append(sample(s, scale));
    }
    return snap;
}

std::vector<SecondSample> history(qint64 seconds)
{
    std::vector<SecondSample> h;
    for (qint64 s = 0; s < seconds; ++s) {
        h.push_back(sample(s));
    }
    return h;
}

QString writeFile(const QTemporaryDir &dir, const QByteArray &content)
{
    const QString path = dir.filePath(QStringLiteral("history.csv"));
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        return QString();
    }
    file.write(content);
    return path;
}

} // namespace

class tst_LiveCharts : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void snapshotsFillSeconds();
    void overlappingSnapshotsDoNotDuplicate();
    void latencyPerSecond();
    void latencyWholeRunDownsamples();
    void lastMinuteShowsSixtyPoints();
    void wholeRunDownsamples();
    void setHistoryThenWindowSwitch();
    void windowComboAndSignal();
    void redrawsAreCoalesced();
    void seriesHaveObjectNames();
    void renderDrawsLines();
    void darkPaletteUsesDarkTheme();
    void csvRoundTrip();
    void waitingIsAShareOnItsOwnAxis();
    void errorsByClassFromSnapshots();
    void perEndpointView();
    void markersShowAndHover();
    void legendClickHidesASeries();
    void hoverShowsValues();
    void exportRendersTheWholeRun();
    void axisLabelsAreNeverElided();
    void csvWithoutLatencyColumns();
    void csvErrors_data();
    void csvErrors();
};

void tst_LiveCharts::snapshotsFillSeconds()
{
    LiveCharts charts;
    charts.addSnapshot(snapshot(0, 29));
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 30);
    for (const auto s : {LiveCharts::Series::Finished, LiveCharts::Series::Exceptions,
                         LiveCharts::Series::RequestsPerSecond, LiveCharts::Series::TokensPerSecond}) {
        QCOMPARE(charts.pointCount(s), 30);
    }
    // The share of sends that waited has no value in a second without sends (second 0 here).
    QCOMPARE(charts.pointCount(LiveCharts::Series::HeldBack), 29);
    const QList<QPointF> issued = charts.points(LiveCharts::Series::Issued);
    QCOMPARE(issued.at(7), QPointF(7, 7));
    QCOMPARE(charts.points(LiveCharts::Series::Finished).at(7), QPointF(7, 8));
    QCOMPARE(charts.points(LiveCharts::Series::HeldBack).at(6), QPointF(7, 300.0 / 7.0)); // 3 of 7 sends
    QCOMPARE(charts.points(LiveCharts::Series::Exceptions).at(7), QPointF(7, 2));
    QCOMPARE(charts.points(LiveCharts::Series::RequestsPerSecond).at(7), QPointF(7, 8));
    QCOMPARE(charts.points(LiveCharts::Series::TokensPerSecond).at(7), QPointF(7, 770));
    QCOMPARE(charts.pointCount(LiveCharts::Series::P50), 0);
}

void tst_LiveCharts::overlappingSnapshotsDoNotDuplicate()
{
    LiveCharts charts;
    charts.addSnapshot(snapshot(0, 29));
    charts.addSnapshot(snapshot(10, 39, 2)); // restates 10..29 with new counts
    charts.addSnapshot(snapshot(20, 39, 2));
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 40);
    const QList<QPointF> issued = charts.points(LiveCharts::Series::Issued);
    QCOMPARE(issued.at(5), QPointF(5, 5));
    QCOMPARE(issued.at(15), QPointF(15, 30));
    QCOMPARE(issued.at(39), QPointF(39, 78));
    for (qsizetype i = 1; i < issued.size(); ++i) {
        QVERIFY(issued.at(i).x() > issued.at(i - 1).x());
    }
}

void tst_LiveCharts::latencyPerSecond()
{
    LiveCharts charts;
    MetricsSnapshot snap = snapshot(0, 19);
    for (SecondSample &sample : snap.recent) {
        if (sample.second % 4 != 0) { // seconds 0, 4, 8... had no successes: no percentiles
            sample.p50Ms = 100 + double(sample.second);
            sample.p90Ms = 200 + double(sample.second);
            sample.p99Ms = 400 + double(sample.second);
        }
    }
    charts.addSnapshot(snap);
    QCOMPARE(charts.pointCount(LiveCharts::Series::P50), 15);
    QCOMPARE(charts.pointCount(LiveCharts::Series::P99), 15);
    QCOMPARE(charts.points(LiveCharts::Series::P50).at(0), QPointF(1, 101));
    QCOMPARE(charts.points(LiveCharts::Series::P90).at(3), QPointF(5, 205));
    QCOMPARE(charts.points(LiveCharts::Series::P99).last(), QPointF(19, 419));

    // A later snapshot restates a second with its final percentiles.
    MetricsSnapshot later = snapshot(19, 20);
    later.recent[0].p50Ms = 150;
    later.recent[1].p50Ms = 160;
    charts.addSnapshot(later);
    QCOMPARE(charts.pointCount(LiveCharts::Series::P50), 16);
    QCOMPARE(charts.points(LiveCharts::Series::P50).at(14), QPointF(19, 150));
    QCOMPARE(charts.points(LiveCharts::Series::P50).last(), QPointF(20, 160));
}

void tst_LiveCharts::latencyWholeRunDownsamples()
{
    LiveCharts charts;
    std::vector<SecondSample> h = history(5000);
    for (SecondSample &sample : h) {
        sample.p50Ms = double(sample.second);
        sample.p99Ms = 3.0 * double(sample.second);
    }
    charts.setHistory(h);
    charts.setWindow(LiveCharts::Window::WholeRun);
    // Second 0 has no latency (p50 and p99 are 0): 4999 seconds into buckets of 9.
    const QList<QPointF> whole = charts.points(LiveCharts::Series::P50);
    QCOMPARE(whole.size(), 556);
    QCOMPARE(whole.first(), QPointF(5, 5));
    QCOMPARE(whole.last(), QPointF(4997.5, 4997.5)); // the short last bucket: 4996..4999
    charts.setWindow(LiveCharts::Window::LastMinute);
    const QList<QPointF> minute = charts.points(LiveCharts::Series::P99);
    QCOMPARE(minute.size(), 60);
    QCOMPARE(minute.last(), QPointF(4999, 3 * 4999));
}

void tst_LiveCharts::lastMinuteShowsSixtyPoints()
{
    LiveCharts charts;
    for (qint64 end = 59; end < 200; end += 10) {
        charts.addSnapshot(snapshot(std::max<qint64>(0, end - 59), end));
    }
    charts.addSnapshot(snapshot(140, 199));
    charts.setWindow(LiveCharts::Window::LastMinute);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 60);
    QCOMPARE(charts.points(LiveCharts::Series::Issued).first(), QPointF(140, 140));
    QCOMPARE(charts.points(LiveCharts::Series::Issued).last(), QPointF(199, 199));
    charts.setWindow(LiveCharts::Window::LastTenMinutes);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 200);
}

void tst_LiveCharts::wholeRunDownsamples()
{
    LiveCharts charts;
    charts.setHistory(history(5000));
    charts.setWindow(LiveCharts::Window::WholeRun);
    const QList<QPointF> issued = charts.points(LiveCharts::Series::Issued);
    QVERIFY(issued.size() <= LiveCharts::MaxPoints);
    QVERIFY(issued.size() >= LiveCharts::MaxPoints / 2);
    // 5000 seconds into at most 600 points: buckets of 9 seconds, averaged.
    QCOMPARE(issued.size(), 556);
    QCOMPARE(issued.at(0), QPointF(4, 4));
    QCOMPARE(issued.at(10), QPointF(94, 94));
    QCOMPARE(issued.last(), QPointF(4997, 4997)); // the short last bucket: 4995..4999
    QCOMPARE(charts.points(LiveCharts::Series::TokensPerSecond).at(10), QPointF(94, 94 * 110));
    QCOMPARE(charts.points(LiveCharts::Series::Exceptions).at(0).y(),
             (0 + 1 + 2 + 3 + 4 + 0 + 1 + 2 + 3) / 9.0);
}

void tst_LiveCharts::setHistoryThenWindowSwitch()
{
    LiveCharts charts;
    charts.addSnapshot(snapshot(0, 10));
    charts.setHistory(history(1000));
    QCOMPARE(charts.window(), LiveCharts::Window::LastMinute);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 60);
    charts.setWindow(LiveCharts::Window::LastTenMinutes);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Finished), 600);
    QCOMPARE(charts.points(LiveCharts::Series::Finished).first(), QPointF(400, 401));
    charts.setWindow(LiveCharts::Window::WholeRun);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 500);
    QCOMPARE(charts.points(LiveCharts::Series::Issued).first(), QPointF(0.5, 0.5));
    charts.clear();
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 0);
}

void tst_LiveCharts::windowComboAndSignal()
{
    LiveCharts charts;
    auto *combo = charts.findChild<QComboBox *>(QStringLiteral("windowCombo"));
    QVERIFY(combo);
    QCOMPARE(combo->count(), 3);
    QSignalSpy spy(&charts, &LiveCharts::windowChanged);
    charts.setWindow(LiveCharts::Window::WholeRun);
    QCOMPARE(combo->currentIndex(), 2);
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).value<LiveCharts::Window>(), LiveCharts::Window::WholeRun);
    charts.setWindow(LiveCharts::Window::WholeRun);
    QCOMPARE(spy.count(), 1);
    combo->setCurrentIndex(1);
    QCOMPARE(charts.window(), LiveCharts::Window::LastTenMinutes);
    QCOMPARE(spy.count(), 2);
}

void tst_LiveCharts::redrawsAreCoalesced()
{
    LiveCharts charts;
    auto *issued = charts.findChild<QLineSeries *>(QStringLiteral("issued"));
    QVERIFY(issued);
    QSignalSpy replaced(issued, &QXYSeries::pointsReplaced);
    for (int i = 0; i < 100; ++i) {
        charts.addSnapshot(snapshot(std::max(0, i - 59), i));
    }
    QCOMPARE(replaced.count(), 0);
    QVERIFY(replaced.wait(2000));
    QCOMPARE(replaced.count(), 1);
    QVERIFY(!replaced.wait(300)); // nothing else was pending
    QCOMPARE(issued->count(), 60);
}

void tst_LiveCharts::seriesHaveObjectNames()
{
    LiveCharts charts;
    const QList<QLineSeries *> series = charts.findChildren<QLineSeries *>();
    // no endpoints yet: the overview's 10, its 6 error classes and the streaming view's 7
    QCOMPARE(series.size(), 23);
    for (const char *name : {"issued",
                             "finished",
                             "heldBack",
                             "exceptions",
                             "errors",
                             "requestsPerSecond",
                             "tokensPerSecond",
                             "p50",
                             "p90",
                             "p99",
                             "errors:server",
                             "errors:transport",
                             "errors:timeout",
                             "errors:overloaded",
                             "errors:client",
                             "errors:quota",
                             "ttftP50",
                             "ttftP90",
                             "ttftP99",
                             "itlP50",
                             "itlP99",
                             "streamTokensPerSecond",
                             "streamsPerSecond"}) {
        QVERIFY2(charts.findChild<QLineSeries *>(QString::fromLatin1(name)), name);
    }
}

void tst_LiveCharts::renderDrawsLines()
{
    LiveCharts charts;
    std::vector<SecondSample> h = history(300);
    for (SecondSample &s : h) {
        s.issued = 2 * s.second; // above the finished line, so both are visible
    }
    for (SecondSample &s : h) {
        if (s.second >= 250) {
            s.p50Ms = 100 + double(s.second % 50);
            s.p90Ms = 300 + double(s.second % 50);
            s.p99Ms = 900 + double(s.second % 50);
        }
    }
    charts.setHistory(h);
    charts.setWindow(LiveCharts::Window::WholeRun);
    const QImage image = charts.render(QSize(1200, 900));
    QVERIFY(!image.isNull());
    QCOMPARE(image.size(), QSize(1200, 900));
    if (qEnvironmentVariableIsSet("SLUICE_CHART_PNG")) {
        image.save(qEnvironmentVariable("SLUICE_CHART_PNG"));
    }

    // Lines are drawn: pixels of each chart's first pen color show up in that chart's quarter (2×2).
    const auto penOf = [&](const char *name) {
        return charts.findChild<QLineSeries *>(QString::fromLatin1(name))->pen().color();
    };
    const auto findIn = [&](const QColor &color, int quarter) {
        const int left = (quarter % 2) * 600;
        const int top = (quarter / 2) * 450;
        int hits = 0;
        for (int y = top; y < top + 450; ++y) {
            for (int x = left; x < left + 600; ++x) {
                const QColor c = image.pixelColor(x, y);
                hits += std::abs(c.red() - color.red()) + std::abs(c.green() - color.green()) +
                                    std::abs(c.blue() - color.blue()) <
                                30
                            ? 1
                            : 0;
            }
        }
        return hits;
    };
    QVERIFY(findIn(penOf("issued"), 0) > 100);
    QVERIFY(findIn(penOf("tokensPerSecond"), 2) > 100);
    QVERIFY(findIn(penOf("p99"), 3) > 50);

    QVERIFY(image.pixelColor(300, 150).lightness() > 128); // default light palette, light theme

    // An empty widget renders too (background and axes only).
    LiveCharts empty;
    const QImage blank = empty.render(QSize(600, 450));
    QVERIFY(!blank.isNull());
}

void tst_LiveCharts::darkPaletteUsesDarkTheme()
{
    LiveCharts charts;
    charts.setHistory(history(120));
    QPalette dark = charts.palette();
    dark.setColor(QPalette::Window, QColor(0x20, 0x20, 0x24));
    dark.setColor(QPalette::WindowText, QColor(0xe0, 0xe0, 0xe0));
    charts.setPalette(dark);
    const QImage image = charts.render(QSize(900, 600));
    if (qEnvironmentVariableIsSet("SLUICE_CHART_PNG_DARK")) {
        image.save(qEnvironmentVariable("SLUICE_CHART_PNG_DARK"));
    }
    QVERIFY(image.pixelColor(450, 100).lightness() < 128);
    QVERIFY(image.pixelColor(2, 2).lightness() < 128);
}

void tst_LiveCharts::csvRoundTrip()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("history.csv"));
    std::vector<SecondSample> written = history(123);
    for (SecondSample &s : written) {
        s.p50Ms = s.second % 3 == 0 ? 0.0 : 12.5 + double(s.second);
        s.p90Ms = s.p50Ms * 2;
        s.p99Ms = s.p50Ms * 4.04; // written with one decimal: 4.04 × 13.5 = 54.54 → 54.5
        s.costUsd = 0.00125 * double(s.second % 5);
        s.spentUsd = 0.5 + double(s.second) * 0.01;
    }
    QVERIFY(Sluice::Metrics::writeHistoryCsv(path, written).ok());
    QString error = QStringLiteral("stale");
    const std::vector<SecondSample> read = LiveCharts::readHistoryCsv(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(read.size(), written.size());
    for (std::size_t i = 0; i < read.size(); ++i) {
        const SecondSample &a = read[i];
        const SecondSample &b = written[i];
        QCOMPARE(a.second, b.second);
        QCOMPARE(a.issued, b.issued);
        QCOMPARE(a.finished, b.finished);
        QCOMPARE(a.succeeded, b.succeeded);
        QCOMPARE(a.overflow, b.overflow);
        QCOMPARE(a.exceptions, b.exceptions);
        QCOMPARE(a.errors, b.errors);
        QCOMPARE(a.inputTokens, b.inputTokens);
        QCOMPARE(a.outputTokens, b.outputTokens);
        QCOMPARE(a.p50Ms, b.p50Ms);
        QCOMPARE(a.p90Ms, b.p90Ms);
        QVERIFY2(std::abs(a.p99Ms - b.p99Ms) <= 0.05 + 1e-9,
                 qPrintable(QStringLiteral("p99 %1 vs %2").arg(a.p99Ms).arg(b.p99Ms)));
        QVERIFY(std::abs(a.costUsd - b.costUsd) < 1e-8);
        QVERIFY(std::abs(a.spentUsd - b.spentUsd) < 1e-8);
    }
    QCOMPARE(read[1].p99Ms, 54.5);

    LiveCharts charts;
    charts.setHistory(read);
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 60);
    QCOMPARE(charts.pointCount(LiveCharts::Series::P50), 40); // seconds 63..122 without multiples of 3
}

void tst_LiveCharts::csvWithoutLatencyColumns()
{
    // Histories exported before the latency columns existed still draw.
    QTemporaryDir dir;
    const QString path =
        writeFile(dir, "second,issued,finished,succeeded,overflow,exceptions,errors,"
                       "input_tokens,output_tokens\n0,5,4,4,1,0,0,40,4\n1,6,6,5,0,1,0,50,5\n");
    QVERIFY(!path.isEmpty());
    QString error;
    const std::vector<SecondSample> read = LiveCharts::readHistoryCsv(path, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(read.size(), std::size_t(2));
    QCOMPARE(read[1].succeeded, 5);
    QCOMPARE(read[1].exceptions, 1);
    QCOMPARE(read[1].p50Ms, 0.0);

    // Histories exported before the cost columns existed (the latency ones included) still load.
    const QString withLatency = writeFile(dir, "second,issued,finished,succeeded,overflow,exceptions,errors,"
                                               "input_tokens,output_tokens,p50_ms,p90_ms,p99_ms\n"
                                               "0,5,4,4,1,0,0,40,4,10.0,20.0,30.0\n");
    QVERIFY(!withLatency.isEmpty());
    const std::vector<SecondSample> older = LiveCharts::readHistoryCsv(withLatency, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(older.size(), std::size_t(1));
    QCOMPARE(older[0].p99Ms, 30.0);
    QCOMPARE(older[0].spentUsd, 0.0);
}

void tst_LiveCharts::csvErrors_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("expected");
    const QByteArray header = "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                              "output_tokens,p50_ms,p90_ms,p99_ms\n";
    const QByteArray oldHeader =
        "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,output_tokens\n";
    QTest::newRow("empty") << QByteArray() << QStringLiteral("history.csv:1: empty file");
    QTest::newRow("bad header") << QByteArray("second,issued\n0,1\n")
                                << QStringLiteral("history.csv:1: unexpected header");
    QTest::newRow("short row") << header + "0,1,2,3,4,5,6,7,8,1.0,2.0,3.0\n1,1,2,3,4,5,6,7,8,1.0,2.0\n"
                               << QStringLiteral("history.csv:3: expected 12 fields, found 11");
    QTest::newRow("latency in an old file") << oldHeader + "0,1,2,3,4,5,6,7,8,1.0,2.0,3.0\n"
                                            << QStringLiteral("history.csv:2: expected 9 fields, found 12");
    QTest::newRow("not an integer") << header + "0,1,2,3,4,5,6,7,8,0,0,0\n1,1,2,3,x,5,6,7,8,0,0,0\n"
                                    << QStringLiteral("history.csv:3: overflow is not an integer: \"x\"");
    QTest::newRow("fraction") << oldHeader + "0,1,2,3,4,5,6,7,8.5\n"
                              << QStringLiteral("history.csv:2: output_tokens is not an integer");
    QTest::newRow("negative latency") << header + "0,1,2,3,4,5,6,7,8,1.5,-2,3\n"
                                      << QStringLiteral("history.csv:2: p90_ms is not a non-negative number");
    QTest::newRow("latency not a number") << header + "0,1,2,3,4,5,6,7,8,1.5,2,nan\n"
                                          << QStringLiteral("history.csv:2: p99_ms is not a non-negative");
}

void tst_LiveCharts::csvErrors()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = writeFile(dir, content);
    QVERIFY(!path.isEmpty());
    QString error;
    const std::vector<SecondSample> read = LiveCharts::readHistoryCsv(path, &error);
    QVERIFY(read.empty());
    QVERIFY2(error.contains(expected), qPrintable(error));

    const std::vector<SecondSample> missing =
        LiveCharts::readHistoryCsv(dir.filePath(QStringLiteral("missing.csv")), &error);
    QVERIFY(missing.empty());
    QVERIFY2(error.startsWith(dir.filePath(QStringLiteral("missing.csv")) + QStringLiteral(": cannot read")),
             qPrintable(error));
}

namespace {

/// A snapshot taken `second` seconds into the run with these cumulative counters (what the engine
/// sends each tick); what changed since the previous one happened in the second before.
MetricsSnapshot cumulative(qint64 second, const QMap<QString, qint64> &classes,
                           const QList<Sluice::EndpointStats> &endpoints)
{
    MetricsSnapshot snap;
    snap.elapsedMs = double(second) * 1000.0;
    for (qint64 s = std::max<qint64>(0, second - 59); s < second; ++s) {
        snap.recent.append(sample(s));
    }
    snap.attemptErrorsByClass = classes;
    snap.endpoints = endpoints;
    return snap;
}

Sluice::EndpointStats endpoint(const QString &name, qint64 sent, qint64 ok, qint64 rateLimited, qint64 errors,
                               double latencySumMs)
{
    Sluice::EndpointStats e;
    e.name = name;
    e.sent = sent;
    e.ok = ok;
    e.rateLimited = rateLimited;
    e.errors = errors;
    e.latencySumMs = latencySumMs;
    return e;
}

} // namespace

void tst_LiveCharts::waitingIsAShareOnItsOwnAxis()
{
    // A limit binds: every send waited for it. "Issued" keeps its own line (req/s); the waiting is a
    // share on the right axis (0-100 %), never a copy of the sends drawn over them.
    std::vector<SecondSample> h;
    for (qint64 s = 0; s < 30; ++s) {
        SecondSample x;
        x.second = s;
        x.issued = 200;
        x.overflow = 200;
        x.finished = 199;
        h.push_back(x);
    }
    LiveCharts charts;
    charts.setHistory(h);
    QCOMPARE(charts.points(LiveCharts::Series::Issued).at(3), QPointF(3, 200));
    QCOMPARE(charts.points(LiveCharts::Series::HeldBack).at(3), QPointF(3, 100));
    auto *held = charts.findChild<QLineSeries *>(QStringLiteral("heldBack"));
    auto *issued = charts.findChild<QLineSeries *>(QStringLiteral("issued"));
    QVERIFY(held && issued);
    const auto yAxis = [](QLineSeries *series) -> QValueAxis * {
        for (QAbstractAxis *axis : series->attachedAxes()) {
            if (axis->orientation() == Qt::Vertical) {
                return qobject_cast<QValueAxis *>(axis);
            }
        }
        return nullptr;
    };
    QVERIFY(yAxis(held) && yAxis(issued));
    QVERIFY(yAxis(held) != yAxis(issued));
    QCOMPARE(yAxis(held)->alignment(), Qt::AlignRight);
    QCOMPARE(yAxis(held)->max(), 100.0);
    QVERIFY(yAxis(issued)->max() >= 200);
    QVERIFY(!held->name().contains(QStringLiteral("Overflow")));
}

void tst_LiveCharts::errorsByClassFromSnapshots()
{
    LiveCharts charts;
    // Seconds 0..9: 5 server errors a second, and 2 timeouts a second from second 5 on.
    qint64 server = 0, timeout = 0;
    for (qint64 second = 1; second <= 10; ++second) {
        server += 5;
        timeout += second >= 6 ? 2 : 0;
        QMap<QString, qint64> classes{{QStringLiteral("server"), server},
                                      {QStringLiteral("rate_limited"), 7}};
        if (timeout > 0) {
            classes.insert(QStringLiteral("timeout"), timeout);
        }
        charts.addSnapshot(cumulative(second, classes, {}));
    }
    const QList<QPointF> serverPoints = charts.points(QStringLiteral("errors:server"));
    QVERIFY(!serverPoints.isEmpty());
    QCOMPARE(serverPoints.at(1), QPointF(1, 5));
    QCOMPARE(serverPoints.at(5), QPointF(5, 5));
    const QList<QPointF> timeouts = charts.points(QStringLiteral("errors:timeout"));
    QCOMPARE(timeouts.at(4), QPointF(4, 0));
    QCOMPARE(timeouts.at(5), QPointF(5, 2));
    // Classes that never happened stay out of the chart and its legend; the all-classes line is for
    // recorded histories only.
    auto *client = charts.findChild<QLineSeries *>(QStringLiteral("errors:client"));
    QVERIFY(client);
    QVERIFY(!client->isVisible());
    QVERIFY(charts.points(QStringLiteral("errors:client")).isEmpty());
    QVERIFY(!charts.findChild<QLineSeries *>(QStringLiteral("errors"))->isVisible());
    QVERIFY(charts.findChild<QLineSeries *>(QStringLiteral("errors:server"))->isVisible());
    QVERIFY(charts.seriesNames(LiveCharts::View::Overview, 1).contains(QStringLiteral("errors:server")));

    // A recorded history has no classes: its non-429 errors are one line.
    LiveCharts recorded;
    recorded.setHistory(history(20));
    QCOMPARE(recorded.points(LiveCharts::Series::Errors).size(), 20);
    QVERIFY(recorded.findChild<QLineSeries *>(QStringLiteral("errors"))->isVisible());
}

void tst_LiveCharts::perEndpointView()
{
    LiveCharts charts;
    QSignalSpy viewChanged(&charts, &LiveCharts::viewChanged);
    for (qint64 second = 1; second <= 5; ++second) {
        charts.addSnapshot(cumulative(
            second, {},
            {endpoint(QStringLiteral("a"), 30 * second, 30 * second, 0, 0, 3000.0 * double(second)),
             endpoint(QStringLiteral("b"), 10 * second, 8 * second, 2 * second, 0, 400.0 * double(second))}));
    }
    charts.setView(LiveCharts::View::PerEndpoint);
    QCOMPARE(viewChanged.count(), 1);
    QCOMPARE(charts.findChild<QComboBox *>(QStringLiteral("viewCombo"))->currentIndex(), 1);
    QCOMPARE(charts.seriesNames(LiveCharts::View::PerEndpoint, 0),
             (QStringList{QStringLiteral("endpointSent:a"), QStringLiteral("endpointSent:b")}));
    QCOMPARE(charts.points(QStringLiteral("endpointSent:a")).at(2), QPointF(2, 30));
    QCOMPARE(charts.points(QStringLiteral("endpointSent:b")).at(2), QPointF(2, 10));
    QCOMPARE(charts.points(QStringLiteral("endpointRateLimited:b")).at(2), QPointF(2, 2));
    QCOMPARE(charts.points(QStringLiteral("endpointRateLimited:a")).at(2), QPointF(2, 0));
    QCOMPARE(charts.points(QStringLiteral("endpointLatency:a")).at(2), QPointF(2, 100)); // 3000 ms / 30
    QCOMPARE(charts.points(QStringLiteral("endpointLatency:b")).at(2), QPointF(2, 50));  // 400 ms / 8
    // Snapshots between whole seconds: what changed is shared by the seconds in proportion.
    LiveCharts split;
    split.addSnapshot(cumulative(1, {}, {endpoint(QStringLiteral("a"), 10, 10, 0, 0, 10)}));
    MetricsSnapshot half = cumulative(2, {}, {endpoint(QStringLiteral("a"), 30, 30, 0, 0, 30)});
    half.elapsedMs = 1500; // 20 more sends in [1 s, 1.5 s]
    split.addSnapshot(half);
    MetricsSnapshot next = cumulative(3, {}, {endpoint(QStringLiteral("a"), 50, 50, 0, 0, 50)});
    next.elapsedMs = 2500; // 20 more in [1.5 s, 2.5 s]: 10 in second 1, 10 in second 2
    split.addSnapshot(next);
    QCOMPARE(split.points(QStringLiteral("endpointSent:a")).at(1), QPointF(1, 30));
    // A new run with other endpoints replaces the lines.
    charts.clear();
    charts.addSnapshot(cumulative(1, {}, {endpoint(QStringLiteral("c"), 1, 1, 0, 0, 5)}));
    QCOMPARE(charts.seriesNames(LiveCharts::View::PerEndpoint, 3),
             QStringList{QStringLiteral("endpointLatency:c")});
    QVERIFY(!charts.findChild<QLineSeries *>(QStringLiteral("endpointSent:a")));
}

void tst_LiveCharts::markersShowAndHover()
{
    LiveCharts charts;
    charts.setHistory(history(60));
    charts.addMarker({30, Sluice::Gui::ChartMarker::Kind::Ejection, QStringLiteral("b ejected: failing")});
    charts.addMarker({45, Sluice::Gui::ChartMarker::Kind::Run, QStringLiteral("paused")});
    QCOMPARE(charts.markers().size(), 2);
    QVERIFY(charts.hoverText(0, 30.2).contains(QStringLiteral("b ejected: failing")));
    QVERIFY(!charts.hoverText(0, 38).contains(QStringLiteral("ejected")));
    // Drawn: a vertical line in the marker's colour at x = 30 of 0..59 in every chart.
    const QImage image = charts.render(QSize(1200, 900));
    const QColor red = Sluice::Gui::ChartMarker::color(Sluice::Gui::ChartMarker::Kind::Ejection);
    int columnsWithRed = 0;
    for (int x = 0; x < 600; ++x) {
        int hits = 0;
        for (int y = 0; y < 450; ++y) {
            const QColor c = image.pixelColor(x, y);
            hits += std::abs(c.red() - red.red()) + std::abs(c.green() - red.green()) +
                        std::abs(c.blue() - red.blue()) <
                    40;
        }
        columnsWithRed += hits > 60 ? 1 : 0;
    }
    QVERIFY2(columnsWithRed >= 1 && columnsWithRed <= 6, qPrintable(QString::number(columnsWithRed)));
    charts.clear();
    QVERIFY(charts.markers().isEmpty());
}

void tst_LiveCharts::legendClickHidesASeries()
{
    LiveCharts charts;
    charts.setHistory(history(60));
    auto *finished = charts.findChild<QLineSeries *>(QStringLiteral("finished"));
    QVERIFY(finished && finished->isVisible());
    auto *chart = charts.findChild<QChartView *>(QStringLiteral("requestsChart"))->chart();
    const QList<QLegendMarker *> markers = chart->legend()->markers(finished);
    QCOMPARE(markers.size(), 1);
    Q_EMIT markers.first()->clicked(); // what a click on the legend entry does
    QVERIFY(charts.isSeriesHidden(QStringLiteral("finished")));
    QVERIFY(!finished->isVisible());
    QTRY_VERIFY(markers.first()->isVisible()); // the entry stays (laid out later), to bring the line back
    QVERIFY(!charts.hoverText(0, 10).contains(QStringLiteral("Finished")));
    Q_EMIT markers.first()->clicked();
    QVERIFY(!charts.isSeriesHidden(QStringLiteral("finished")));
    QVERIFY(finished->isVisible());
    QVERIFY(charts.hoverText(0, 10).contains(QStringLiteral("Finished: 11")));
}

void tst_LiveCharts::hoverShowsValues()
{
    LiveCharts charts;
    charts.resize(1200, 800);
    charts.show();
    charts.setHistory(history(60));
    QVERIFY(QTest::qWaitForWindowExposed(&charts));
    QTRY_COMPARE(charts.pointCount(LiveCharts::Series::Issued), 60);
    auto *view = charts.findChild<QChartView *>(QStringLiteral("requestsChart"));
    QChart *chart = view->chart();
    // The middle of the plot area, in viewport coordinates.
    const QPointF inChart = chart->plotArea().center();
    const QPoint at = view->mapFromScene(chart->mapToScene(inChart));
    QMouseEvent move(QEvent::MouseMove, QPointF(at), view->viewport()->mapToGlobal(QPointF(at)), Qt::NoButton,
                     Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(view->viewport(), &move);
    auto *label = charts.findChild<QLabel *>(QStringLiteral("chartHover"));
    QVERIFY(label);
    QVERIFY(label->isVisible());
    QVERIFY2(label->text().contains(QStringLiteral("Issued: ")), qPrintable(label->text()));
    QVERIFY2(label->text().contains(QStringLiteral("s since the start")), qPrintable(label->text()));
    QEvent leave(QEvent::Leave);
    QApplication::sendEvent(view->viewport(), &leave);
    QVERIFY(!label->isVisible());
}

void tst_LiveCharts::exportRendersTheWholeRun()
{
    LiveCharts charts;
    charts.setHistory(history(300));
    QCOMPARE(charts.window(), LiveCharts::Window::LastMinute);
    const QImage whole =
        charts.render(QSize(800, 600), LiveCharts::Window::WholeRun, {LiveCharts::View::Overview});
    const QImage minute =
        charts.render(QSize(800, 600), LiveCharts::Window::LastMinute, {LiveCharts::View::Overview});
    QVERIFY(whole != minute);
    QCOMPARE(charts.render(QSize(800, 600)), minute); // the plain render draws the window on screen
    const QImage both = charts.render(QSize(800, 1200), LiveCharts::Window::WholeRun,
                                      {LiveCharts::View::Overview, LiveCharts::View::PerEndpoint});
    QCOMPARE(both.size(), QSize(800, 1200));
}

void tst_LiveCharts::axisLabelsAreNeverElided()
{
    // A run as the window sees it: the charts are on screen before any data, then the values grow
    // from nothing to hundreds of requests and thousands of tokens a second. Qt Charts sizes an axis
    // from its labels; labels it has no room for come out as "…".
    LiveCharts charts;
    charts.resize(1250, 380);
    charts.show();
    QVERIFY(QTest::qWaitForWindowExposed(&charts));
    MetricsSnapshot snap;
    for (int tick = 1; tick <= 24; ++tick) {
        snap.elapsedMs = tick * 250.0;
        snap.recent.clear();
        for (qint64 s = 0; s < tick / 4; ++s) {
            SecondSample x;
            x.second = s;
            x.issued = 60 * (s + 1);
            x.finished = 55 * (s + 1);
            x.overflow = x.issued;
            x.succeeded = x.finished;
            x.inputTokens = 1300 * (s + 1);
            x.outputTokens = 500 * (s + 1);
            x.p50Ms = 70;
            x.p90Ms = 95;
            x.p99Ms = 101;
            snap.recent.append(x);
        }
        charts.addSnapshot(snap);
        QTest::qWait(60);
    }
    QTest::qWait(250);
    for (QChartView *view : charts.findChildren<QChartView *>()) {
        if (!view->isVisible()) {
            continue;
        }
        for (QGraphicsItem *item : view->scene()->items()) {
            auto *text = dynamic_cast<QGraphicsTextItem *>(item);
            if (text && text->isVisible()) {
                const QString shown = text->toPlainText();
                QVERIFY2(!shown.contains(QStringLiteral("…")) && !shown.contains(QStringLiteral("...")),
                         qPrintable(QStringLiteral("%1: \"%2\"").arg(view->objectName(), shown)));
            }
        }
    }
}

QTEST_MAIN(tst_LiveCharts)
#include "tst_livecharts.moc"
