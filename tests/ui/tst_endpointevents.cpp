// EndpointEvents: the window's log lines and chart markers from changes of endpoint state between
// snapshots (ejections, recoveries, 429 storms).

#include "endpointevents.h"

#include <QTest>

using namespace Sluice;
using namespace Sluice::Gui;

namespace {

MetricsSnapshot at(double ms, const QList<EndpointStats> &endpoints)
{
    MetricsSnapshot s;
    s.elapsedMs = ms;
    s.endpoints = endpoints;
    return s;
}

EndpointStats endpoint(const QString &name, EndpointState state, qint64 rateLimited = 0, int ejectedAfter = 0)
{
    EndpointStats e;
    e.name = name;
    e.state = state;
    e.rateLimited = rateLimited;
    e.ejectedAfter = ejectedAfter;
    return e;
}

} // namespace

class tst_EndpointEvents : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void ejectionAndRecovery_data();
    void ejectionAndRecovery();
    void probingDoesNotCountAsBack();
    void disabledIsNoRecovery();
    void stormOncePerQuietSpell();
    void otherEndpointsStartAfresh();
};

void tst_EndpointEvents::ejectionAndRecovery_data()
{
    QTest::addColumn<int>("state");
    QTest::addColumn<QString>("text");
    QTest::newRow("failing") << int(EndpointState::Failing)
                             << QStringLiteral("b ejected: failing: 5 different requests in a row failed");
    QTest::newRow("unreachable") << int(EndpointState::Unreachable)
                                 << QStringLiteral(
                                        "b ejected: unreachable: 5 attempts in a row got no answer");
    QTest::newRow("overloaded") << int(EndpointState::Overloaded)
                                << QStringLiteral("b ejected: overloaded (529/503), paused");
    QTest::newRow("quota") << int(EndpointState::Quota)
                           << QStringLiteral("b ejected: quota exhausted, no more requests go there");
}

void tst_EndpointEvents::ejectionAndRecovery()
{
    QFETCH(int, state);
    QFETCH(QString, text);
    EndpointEvents events;
    const EndpointStats a = endpoint(QStringLiteral("a"), EndpointState::Active);
    QVERIFY(events.update(at(250, {a, endpoint(QStringLiteral("b"), EndpointState::Active)})).isEmpty());
    const QList<ChartMarker> out =
        events.update(at(2500, {a, endpoint(QStringLiteral("b"), EndpointState(state), 0, 5)}));
    QCOMPARE(out.size(), 1);
    QCOMPARE(out.at(0).kind, ChartMarker::Kind::Ejection);
    QCOMPARE(out.at(0).second, 2.5);
    QCOMPARE(out.at(0).text, text);
    // Still out: nothing new.
    QVERIFY(
        events.update(at(2750, {a, endpoint(QStringLiteral("b"), EndpointState(state), 0, 5)})).isEmpty());
    const QList<ChartMarker> back =
        events.update(at(14500, {a, endpoint(QStringLiteral("b"), EndpointState::Active)}));
    QCOMPARE(back.size(), 1);
    QCOMPARE(back.at(0).kind, ChartMarker::Kind::Recovery);
    QCOMPARE(back.at(0).text, QStringLiteral("b back: answering again after 12 s out"));
    QVERIFY(events.update(at(14750, {a, endpoint(QStringLiteral("b"), EndpointState::Active)})).isEmpty());
}

void tst_EndpointEvents::probingDoesNotCountAsBack()
{
    EndpointEvents events;
    events.update(at(0, {endpoint(QStringLiteral("b"), EndpointState::Active)}));
    QCOMPARE(
        events.update(at(1000, {endpoint(QStringLiteral("b"), EndpointState::Unreachable, 0, 5)})).size(), 1);
    QVERIFY(events.update(at(2000, {endpoint(QStringLiteral("b"), EndpointState::Probing)})).isEmpty());
    // The probe failed: out again, but that is the same ejection, not a new one.
    QVERIFY(
        events.update(at(3000, {endpoint(QStringLiteral("b"), EndpointState::Unreachable, 0, 6)})).isEmpty());
    const QList<ChartMarker> back =
        events.update(at(9000, {endpoint(QStringLiteral("b"), EndpointState::Active)}));
    QCOMPARE(back.size(), 1);
    QCOMPARE(back.at(0).text, QStringLiteral("b back: answering again after 8 s out"));
}

void tst_EndpointEvents::disabledIsNoRecovery()
{
    EndpointEvents events;
    events.update(at(0, {endpoint(QStringLiteral("b"), EndpointState::Active)}));
    QCOMPARE(events.update(at(1000, {endpoint(QStringLiteral("b"), EndpointState::Failing, 0, 5)})).size(),
             1);
    QVERIFY(events.update(at(2000, {endpoint(QStringLiteral("b"), EndpointState::Disabled)})).isEmpty());
    QVERIFY(events.update(at(3000, {endpoint(QStringLiteral("b"), EndpointState::Active)})).isEmpty());
}

void tst_EndpointEvents::stormOncePerQuietSpell()
{
    EndpointEvents events;
    events.update(at(0, {endpoint(QStringLiteral("a"), EndpointState::Active, 0)}));
    // 4 + 4 429s within a second: not yet a storm (10 a second).
    QVERIFY(events.update(at(250, {endpoint(QStringLiteral("a"), EndpointState::CoolingDown, 4)})).isEmpty());
    QVERIFY(events.update(at(500, {endpoint(QStringLiteral("a"), EndpointState::Active, 8)})).isEmpty());
    const QList<ChartMarker> storm =
        events.update(at(750, {endpoint(QStringLiteral("a"), EndpointState::CoolingDown, 12)}));
    QCOMPARE(storm.size(), 1);
    QCOMPARE(storm.at(0).kind, ChartMarker::Kind::RateLimitStorm);
    QCOMPARE(storm.at(0).text, QStringLiteral("429 storm on a: 12 answered 429 within a second (12 so far)"));
    // It goes on: reported once.
    qint64 total = 12;
    for (double ms = 1000; ms <= 4000; ms += 250) {
        total += 5;
        QVERIFY(events.update(at(ms, {endpoint(QStringLiteral("a"), EndpointState::CoolingDown, total)}))
                    .isEmpty());
    }
    // Calm for a while, then another storm: a new report.
    for (double ms = 4250; ms <= 10000; ms += 250) {
        QVERIFY(
            events.update(at(ms, {endpoint(QStringLiteral("a"), EndpointState::Active, total)})).isEmpty());
    }
    total += 20;
    QCOMPARE(
        events.update(at(10250, {endpoint(QStringLiteral("a"), EndpointState::CoolingDown, total)})).size(),
        1);
}

void tst_EndpointEvents::otherEndpointsStartAfresh()
{
    EndpointEvents events;
    events.update(at(0, {endpoint(QStringLiteral("a"), EndpointState::Failing, 100, 5)}));
    // A new run with other endpoints: their counters and states are their own.
    QVERIFY(events.update(at(250, {endpoint(QStringLiteral("c"), EndpointState::Active, 3)})).isEmpty());
    events.reset();
    QCOMPARE(events.update(at(500, {endpoint(QStringLiteral("c"), EndpointState::Failing, 3, 5)})).size(), 1);
}

QTEST_APPLESS_MAIN(tst_EndpointEvents)
#include "tst_endpointevents.moc"
