// Sim::SseStream: what a streamed reply writes at each step and how long it waits, including the
// scripted faults (stall, cut, error event). Pure logic: no sockets, no clock.

#include "sim/ssestream.h"

#include <QTest>

using namespace Sluice::Sim;

namespace {

StreamPlan plan(int deltas)
{
    StreamPlan p;
    p.head = "HEAD\r\n\r\n";
    p.opening = {"o1\n\n", "o2\n\n"};
    for (int i = 0; i < deltas; ++i)
        p.deltas.push_back("d" + QByteArray::number(i) + "\n\n");
    p.closing = {"c1\n\n", "c2\n\n"};
    p.errorEvent = "err\n\n";
    p.firstTokenMs = 300;
    p.chunkIntervalMs = 100;
    return p;
}

QByteArray chunk(const QByteArray &event)
{
    return QByteArray::number(event.size(), 16) + "\r\n" + event + "\r\n";
}

} // namespace

class tst_SseStream : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void wholeStream();
    void unframedForHttp10();
    void stall();
    void cut_data();
    void cut();
    void errorEvent();
};

void tst_SseStream::wholeStream()
{
    SseStream stream(plan(3));
    const SseStream::Step start = stream.start();
    QCOMPARE(start.bytes, QByteArray("HEAD\r\n\r\n" + chunk("o1\n\n") + chunk("o2\n\n")));
    QCOMPARE(start.waitMs, 300.0); // the first token
    QCOMPARE(start.end, SseStream::End::None);
    const QList<double> waits = {100, 100, 0}; // intervals, then the closing events at once
    for (int i = 0; i < 3; ++i) {
        const SseStream::Step step = stream.next();
        QCOMPARE(step.bytes, chunk("d" + QByteArray::number(i) + "\n\n"));
        QCOMPARE(step.waitMs, waits.at(i));
        QCOMPARE(step.end, SseStream::End::None);
    }
    const SseStream::Step last = stream.next();
    QCOMPARE(last.bytes, QByteArray(chunk("c1\n\n") + chunk("c2\n\n") + "0\r\n\r\n"));
    QCOMPARE(last.end, SseStream::End::Completed);
}

void tst_SseStream::unframedForHttp10()
{
    StreamPlan p = plan(1);
    p.chunked = false;
    SseStream stream(std::move(p));
    QCOMPARE(stream.start().bytes, QByteArray("HEAD\r\n\r\no1\n\no2\n\n"));
    QCOMPARE(stream.next().bytes, QByteArray("d0\n\n"));
    const SseStream::Step last = stream.next();
    QCOMPARE(last.bytes, QByteArray("c1\n\nc2\n\n")); // no last chunk: the close ends the body
    QCOMPARE(last.end, SseStream::End::Completed);
}

void tst_SseStream::stall()
{
    StreamPlan p = plan(3);
    p.stallAfter = 1;
    p.stallMs = 1000;
    SseStream stream(std::move(p));
    QCOMPARE(stream.start().waitMs, 300.0);
    QCOMPARE(stream.next().waitMs, 1100.0); // after one delta: the interval plus the stall
    QCOMPARE(stream.next().waitMs, 100.0);
    QCOMPARE(stream.next().waitMs, 0.0);
    QCOMPARE(stream.next().end, SseStream::End::Completed);
}

void tst_SseStream::cut_data()
{
    QTest::addColumn<int>("after");
    QTest::newRow("before the first delta") << 0;
    QTest::newRow("after two") << 2;
    QTest::newRow("after the last, before the closing events") << 3;
}

void tst_SseStream::cut()
{
    QFETCH(int, after);
    StreamPlan p = plan(3);
    p.cutAfter = after;
    SseStream stream(std::move(p));
    stream.start();
    for (int i = 0; i < after; ++i)
        QCOMPARE(stream.next().end, SseStream::End::None);
    const SseStream::Step cut = stream.next();
    QCOMPARE(cut.end, SseStream::End::Cut);
    QVERIFY(cut.bytes.isEmpty()); // no closing events, no last chunk
}

void tst_SseStream::errorEvent()
{
    StreamPlan p = plan(3);
    p.errorAfter = 1;
    p.cutAfter = 2; // never reached: the error ends the stream first
    SseStream stream(std::move(p));
    stream.start();
    QCOMPARE(stream.next().bytes, chunk("d0\n\n"));
    const SseStream::Step error = stream.next();
    QCOMPARE(error.end, SseStream::End::Failed);
    QCOMPARE(error.bytes, QByteArray(chunk("err\n\n") + "0\r\n\r\n")); // the body still ends properly
}

QTEST_APPLESS_MAIN(tst_SseStream)
#include "tst_ssestream.moc"
