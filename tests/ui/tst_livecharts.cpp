#include "charts/livecharts.h"
#include "metrics/metrics.h"

#include <QComboBox>
#include <QFile>
#include <QLineSeries>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

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
    void csvWithoutLatencyColumns();
    void csvErrors_data();
    void csvErrors();
};

void tst_LiveCharts::snapshotsFillSeconds()
{
    LiveCharts charts;
    charts.addSnapshot(snapshot(0, 29));
    QCOMPARE(charts.pointCount(LiveCharts::Series::Issued), 30);
    for (const auto s :
         {LiveCharts::Series::Finished, LiveCharts::Series::Overflow, LiveCharts::Series::Exceptions,
          LiveCharts::Series::RequestsPerSecond, LiveCharts::Series::TokensPerSecond}) {
        QCOMPARE(charts.pointCount(s), 30);
    }
    const QList<QPointF> issued = charts.points(LiveCharts::Series::Issued);
    QCOMPARE(issued.at(7), QPointF(7, 7));
    QCOMPARE(charts.points(LiveCharts::Series::Finished).at(7), QPointF(7, 8));
    QCOMPARE(charts.points(LiveCharts::Series::Overflow).at(7), QPointF(7, 3));
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
    QCOMPARE(series.size(), 9);
    for (const char *name : {"issued", "finished", "overflow", "exceptions", "requestsPerSecond",
                             "tokensPerSecond", "p50", "p90", "p99"}) {
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

    // Lines are drawn: pixels of each chart's first pen color show up in that chart's third.
    const auto findColor = [&](const QColor &color, int top, int bottom) {
        int hits = 0;
        for (int y = top; y < bottom; ++y) {
            for (int x = 0; x < image.width(); ++x) {
                const QColor c = image.pixelColor(x, y);
                if (std::abs(c.red() - color.red()) + std::abs(c.green() - color.green()) +
                        std::abs(c.blue() - color.blue()) <
                    30) {
                    ++hits;
                }
            }
        }
        return hits;
    };
    const auto penOf = [&](const char *name) {
        return charts.findChild<QLineSeries *>(QString::fromLatin1(name))->pen().color();
    };
    QVERIFY(findColor(penOf("issued"), 0, 300) > 100);
    QVERIFY(findColor(penOf("tokensPerSecond"), 300, 600) > 100);
    QVERIFY(findColor(penOf("p99"), 600, 900) > 50);

    QVERIFY(image.pixelColor(600, 150).lightness() > 128); // default light palette, light theme

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

QTEST_MAIN(tst_LiveCharts)
#include "tst_livecharts.moc"
