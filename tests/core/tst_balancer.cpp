#include "balance/balancer.h"

#include <QTest>

#include <vector>

using namespace Sluice;

class tst_Balancer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void sharesFollowWeights_data();
    void sharesFollowWeights();
    void interleavesRatherThanBlocks();
    void ineligibleEndpointsAreSkipped();
    void shortStallKeepsShare();
    void longStallDoesNotFlood();
    void zeroWeightDisables();
    void noneEligibleChangesNothing();
    void weightChangeTakesEffect();
    void busyEndpointHoldsItsTurn();
};

namespace {
Availability ready(int)
{
    return Availability::Ready;
}

Availability readyIf(bool condition)
{
    return condition ? Availability::Ready : Availability::Unavailable;
}

std::vector<int> countPicks(Balancer &b, int picks)
{
    std::vector<int> counts(std::size_t(b.count()), 0);
    for (int i = 0; i < picks; ++i) {
        const int p = b.pick(ready);
        if (p >= 0) {
            ++counts[std::size_t(p)];
        }
    }
    return counts;
}
} // namespace

void tst_Balancer::sharesFollowWeights_data()
{
    QTest::addColumn<QList<double>>("weights");
    QTest::newRow("equal") << QList<double>{1, 1};
    QTest::newRow("3:1") << QList<double>{3, 1};
    QTest::newRow("5:1:1") << QList<double>{5, 1, 1};
    QTest::newRow("fractional 0.7:0.2:0.1") << QList<double>{0.7, 0.2, 0.1};
    QTest::newRow("10:3:2:1") << QList<double>{10, 3, 2, 1};
}

void tst_Balancer::sharesFollowWeights()
{
    QFETCH(QList<double>, weights);
    Balancer b;
    b.setCount(int(weights.size()));
    double total = 0;
    for (int i = 0; i < weights.size(); ++i) {
        b.setWeight(i, weights.at(i));
        total += weights.at(i);
    }
    const int picks = 10000;
    const std::vector<int> counts = countPicks(b, picks);
    for (int i = 0; i < weights.size(); ++i) {
        const double share = double(counts[std::size_t(i)]) / picks;
        const double expected = weights.at(i) / total;
        QVERIFY2(std::abs(share - expected) < 0.002,
                 qPrintable(QStringLiteral("endpoint %1: %2 vs %3").arg(i).arg(share).arg(expected)));
    }
}

void tst_Balancer::interleavesRatherThanBlocks()
{
    Balancer b;
    b.setCount(3);
    b.setWeight(0, 5);
    b.setWeight(1, 1);
    b.setWeight(2, 1);
    QString order;
    for (int i = 0; i < 7; ++i) {
        order += QLatin1Char(char('a' + b.pick(ready)));
    }
    QCOMPARE(order, QStringLiteral("aabacaa"));
}

void tst_Balancer::ineligibleEndpointsAreSkipped()
{
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 1);
    b.setWeight(1, 1);
    for (int i = 0; i < 10; ++i) {
        QCOMPARE(b.pick([](int e) { return readyIf(e == 1); }), 1);
    }
}

void tst_Balancer::shortStallKeepsShare()
{
    // Endpoint 1 (weight 1 of 4) is unavailable for one pick in every three, as when its own bucket
    // refills between picks: it must still get its 25 %.
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 3);
    b.setWeight(1, 1);
    std::vector<int> counts(2, 0);
    for (int i = 0; i < 12000; ++i) {
        const bool secondAvailable = i % 3 != 0;
        ++counts[std::size_t(b.pick([&](int e) { return readyIf(e == 0 || secondAvailable); }))];
    }
    QVERIFY2(std::abs(counts[1] / 12000.0 - 0.25) < 0.005, qPrintable(QString::number(counts[1])));
}

void tst_Balancer::longStallDoesNotFlood()
{
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 1);
    b.setWeight(1, 1);
    for (int i = 0; i < 1000; ++i) {
        QCOMPARE(b.pick([](int e) { return readyIf(e == 0); }), 0);
    }
    // After a long stall endpoint 1 has at most one round of credit: no run of 1000 picks.
    int run = 0;
    while (b.pick(ready) == 1) {
        ++run;
        QVERIFY(run < 5);
    }
    QVERIFY(run <= 2);
}

void tst_Balancer::zeroWeightDisables()
{
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 0);
    b.setWeight(1, 2);
    const std::vector<int> counts = countPicks(b, 100);
    QCOMPARE(counts[0], 0);
    QCOMPARE(counts[1], 100);
    b.setWeight(1, 0);
    QCOMPARE(b.pick(ready), -1);
}

void tst_Balancer::noneEligibleChangesNothing()
{
    Balancer a;
    Balancer b;
    for (Balancer *x : {&a, &b}) {
        x->setCount(2);
        x->setWeight(0, 2);
        x->setWeight(1, 1);
    }
    for (int i = 0; i < 50; ++i) {
        QCOMPARE(b.pick([](int) { return Availability::Unavailable; }), -1);
    }
    for (int i = 0; i < 30; ++i) {
        QCOMPARE(a.pick(ready), b.pick(ready));
    }
}

void tst_Balancer::weightChangeTakesEffect()
{
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 1);
    b.setWeight(1, 1);
    countPicks(b, 100);
    b.setWeight(0, 9);
    const std::vector<int> counts = countPicks(b, 1000);
    QVERIFY2(std::abs(counts[0] - 900) <= 2, qPrintable(QString::number(counts[0])));
}

void tst_Balancer::busyEndpointHoldsItsTurn()
{
    // a (weight 3) has no free connection half of the time: b must not take a's share.
    Balancer b;
    b.setCount(2);
    b.setWeight(0, 3);
    b.setWeight(1, 1);
    std::vector<int> counts(2, 0);
    int held = 0;
    for (int i = 0; i < 8000; ++i) {
        const bool aBusy = i % 2 == 0;
        const int p =
            b.pick([&](int e) { return e == 0 && aBusy ? Availability::Busy : Availability::Ready; });
        if (p < 0) {
            ++held;
        } else {
            ++counts[std::size_t(p)];
        }
    }
    QVERIFY(held > 0);
    const double shareA = double(counts[0]) / double(counts[0] + counts[1]);
    QVERIFY2(std::abs(shareA - 0.75) < 0.002, qPrintable(QString::number(shareA)));
    // A busy endpoint that is not the one whose turn it is does not hold anything up.
    Balancer c;
    c.setCount(2);
    c.setWeight(0, 1);
    c.setWeight(1, 1);
    QCOMPARE(c.pick([](int e) { return e == 1 ? Availability::Busy : Availability::Ready; }), 0);
    QCOMPARE(c.pick([](int e) { return e == 1 ? Availability::Busy : Availability::Ready; }), -1);
}

QTEST_APPLESS_MAIN(tst_Balancer)
#include "tst_balancer.moc"
