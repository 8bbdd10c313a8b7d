// The cost gauge of the status bar: its levels against the budget (normal below 80 %, amber from 80 %,
// red at 100 % or when the run stopped at the budget), its texts, unpriced models, and what it paints.

#include "widgets/costgauge.h"

#include <QApplication>
#include <QImage>
#include <QTest>

using namespace Sluice;
using Sluice::Gui::CostGauge;

namespace {

CostStats cost(double spent, double reserved, double budget)
{
    CostStats c;
    c.limited = budget > 0;
    c.spentUsd = spent;
    c.reservedUsd = reserved;
    c.budgetUsd = budget;
    c.pricedReplies = spent > 0 ? 10 : 0;
    return c;
}

} // namespace

class tst_CostGauge : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void beforeARun();
    void levels_data();
    void levels();
    void texts_data();
    void texts();
    void stoppedAtTheBudget();
    void resumedRunCountsEarlierSpend();
    void unpricedModelsSaidPlainly();
    void aRunKeepsItsBudgetUntilCleared();
    void paintsSpentAndInFlight();
};

void tst_CostGauge::beforeARun()
{
    CostGauge gauge;
    QCOMPARE(gauge.text(), QStringLiteral("Cost: no budget"));
    QCOMPARE(gauge.level(), CostGauge::Level::Normal);
    QWidget *bar = gauge.findChild<QWidget *>(QStringLiteral("costBar"));
    QVERIFY(bar && !bar->isVisibleTo(&gauge)); // nothing to measure against
    gauge.setBudget(1.0);
    QCOMPARE(gauge.text(), QStringLiteral("Budget $1.00, nothing spent yet"));
    QVERIFY(bar->isVisibleTo(&gauge));
    QCOMPARE(gauge.level(), CostGauge::Level::Normal);
}

void tst_CostGauge::levels_data()
{
    QTest::addColumn<double>("spent");
    QTest::addColumn<double>("reserved");
    QTest::addColumn<double>("budget");
    QTest::addColumn<int>("level");
    QTest::addColumn<QString>("percent");
    using L = CostGauge::Level;
    QTest::newRow("79 %") << 0.70 << 0.09 << 1.0 << int(L::Normal) << QStringLiteral("(79 %)");
    QTest::newRow("80 % (in flight counts)")
        << 0.70 << 0.10 << 1.0 << int(L::Warning) << QStringLiteral("(80 %)");
    QTest::newRow("80 % spent") << 8.0 << 0.0 << 10.0 << int(L::Warning) << QStringLiteral("(80 %)");
    QTest::newRow("99 %") << 0.99 << 0.0 << 1.0 << int(L::Warning) << QStringLiteral("(99 %)");
    QTest::newRow("100 % with in flight")
        << 0.95 << 0.05 << 1.0 << int(L::Reached) << QStringLiteral("(100 %)");
    QTest::newRow("100 % spent") << 2.0 << 0.0 << 2.0 << int(L::Reached) << QStringLiteral("(100 %)");
    QTest::newRow("no budget, any spend") << 500.0 << 0.0 << 0.0 << int(L::Normal) << QString();
}

void tst_CostGauge::levels()
{
    QFETCH(double, spent);
    QFETCH(double, reserved);
    QFETCH(double, budget);
    QFETCH(int, level);
    QFETCH(QString, percent);
    CostGauge gauge;
    gauge.setCost(cost(spent, reserved, budget));
    QCOMPARE(int(gauge.level()), level);
    QCOMPARE(int(CostGauge::levelOf(cost(spent, reserved, budget))), level);
    if (!percent.isEmpty()) {
        QVERIFY2(gauge.text().contains(percent), qPrintable(gauge.text()));
    }
    // Amber and red as in the endpoints table's State column; normal in the palette's own colours.
    const QColor expected = CostGauge::Level(level) == CostGauge::Level::Normal
                                ? gauge.palette().color(QPalette::Highlight)
                                : CostGauge::color(CostGauge::Level(level));
    QCOMPARE(gauge.barColor(), expected);
    if (CostGauge::Level(level) != CostGauge::Level::Normal) {
        QCOMPARE(gauge.textColor(), expected);
    } else {
        QCOMPARE(gauge.textColor(), gauge.palette().color(QPalette::WindowText));
    }
    QCOMPARE(CostGauge::color(CostGauge::Level::Warning), QColor(0xd0, 0x8a, 0x10));
    QCOMPARE(CostGauge::color(CostGauge::Level::Reached), QColor(0xe0, 0x50, 0x48));
}

void tst_CostGauge::texts_data()
{
    QTest::addColumn<double>("spent");
    QTest::addColumn<double>("reserved");
    QTest::addColumn<double>("budget");
    QTest::addColumn<QString>("text");
    QTest::newRow("spent and in flight of a budget")
        << 0.42 << 0.03 << 1.0 << QStringLiteral("$0.420 spent + $0.0300 in flight of $1.00 (45 %)");
    QTest::newRow("nothing in flight")
        << 0.0123 << 0.0 << 5.0 << QStringLiteral("$0.0123 spent of $5.00 (0 %)");
    QTest::newRow("no budget: the spend still shows")
        << 3.5 << 0.0 << 0.0 << QStringLiteral("$3.50 spent · no budget");
    QTest::newRow("settled reservations leave no in flight")
        << 1.0 << 1e-17 << 2.0 << QStringLiteral("$1.00 spent of $2.00 (50 %)");
    QTest::newRow("reached") << 1.0 << 0.0 << 1.0
                             << QStringLiteral("budget reached · $1.00 spent of $1.00 (100 %)");
}

void tst_CostGauge::texts()
{
    QFETCH(double, spent);
    QFETCH(double, reserved);
    QFETCH(double, budget);
    QFETCH(QString, text);
    CostGauge gauge;
    gauge.setCost(cost(spent, reserved, budget));
    QCOMPARE(gauge.text(), text);
}

void tst_CostGauge::resumedRunCountsEarlierSpend()
{
    // A resumed run's budget holds what its earlier sessions spent: $0.30 now + $0.55 before of $1.00
    // is amber (85 %), not green (30 %), and the text says where the rest went.
    CostGauge gauge;
    CostStats c = cost(0.30, 0.0, 1.0);
    c.earlierUsd = 0.55;
    gauge.setCost(c);
    QCOMPARE(gauge.text(), QStringLiteral("$0.300 spent (+ $0.550 before the resume) of $1.00 (85 %)"));
    QCOMPARE(gauge.level(), CostGauge::Level::Warning);
}

void tst_CostGauge::stoppedAtTheBudget()
{
    // The engine stops when the next request's worst case does not fit: spent is below the budget, but
    // the run is over for it. Red, and how many lines are left.
    CostGauge gauge;
    CostStats c = cost(0.61, 0.0, 1.0);
    c.budgetReached = true;
    gauge.setCost(c, 0);
    QCOMPARE(gauge.level(), CostGauge::Level::Reached);
    QVERIFY2(gauge.text().startsWith(QStringLiteral("budget reached: no new requests")),
             qPrintable(gauge.text()));
    gauge.setCost(c, 1234);
    QCOMPARE(gauge.text(),
             QStringLiteral("budget reached: 1,234 lines not sent · $0.610 spent of $1.00 (61 %)"));
    QCOMPARE(gauge.barColor(), CostGauge::color(CostGauge::Level::Reached));
    // Endpoint budgets alone stop a run too.
    CostStats endpoints = cost(0.2, 0, 0);
    endpoints.limited = true;
    endpoints.budgetReached = true;
    gauge.setCost(endpoints, 7);
    QCOMPARE(gauge.level(), CostGauge::Level::Reached);
    QCOMPARE(gauge.text(),
             QStringLiteral("budget reached: 7 lines not sent · $0.200 spent · endpoint budgets only"));
}

void tst_CostGauge::unpricedModelsSaidPlainly()
{
    CostGauge gauge;
    gauge.setUnpriced(
        {QStringLiteral("house-x at a"), QStringLiteral("house-x at b"), QStringLiteral("other at b")});
    QCOMPARE(gauge.text(), QStringLiteral("Cost: no budget · unpriced: house-x, other"));
    QVERIFY(gauge.toolTip().contains(QStringLiteral("house-x at a, house-x at b, other at b")));
    CostStats c = cost(0.5, 0, 0);
    c.unpricedReplies = 40;
    gauge.setCost(c);
    QCOMPARE(gauge.text(), QStringLiteral("$0.500 spent · no budget · unpriced: house-x, other"));
    QVERIFY2(gauge.toolTip().contains(QStringLiteral("Their replies (40 so far) are not in the spend")),
             qPrintable(gauge.toolTip()));
    // Replies of a model nobody named (the preflight knew of none): still said.
    gauge.setUnpriced({});
    QCOMPARE(gauge.text(),
             QStringLiteral("$0.500 spent · no budget · unpriced: 40 replies of models without a price"));
}

void tst_CostGauge::aRunKeepsItsBudgetUntilCleared()
{
    CostGauge gauge;
    gauge.setBudget(2.0);
    gauge.setCost(cost(1.0, 0, 2.0));
    gauge.setBudget(10.0); // the next run's
    QCOMPARE(gauge.text(), QStringLiteral("$1.00 spent of $2.00 (50 %)"));
    gauge.clear();
    QCOMPARE(gauge.text(), QStringLiteral("Budget $10.00, nothing spent yet"));
    QCOMPARE(gauge.level(), CostGauge::Level::Normal);
}

void tst_CostGauge::paintsSpentAndInFlight()
{
    CostGauge gauge;
    gauge.setCost(cost(0.5, 0.35, 1.0)); // 85 %: amber
    gauge.resize(gauge.sizeHint());
    gauge.show();
    QVERIFY(QTest::qWaitForWindowExposed(&gauge));
    QWidget *bar = gauge.findChild<QWidget *>(QStringLiteral("costBar"));
    QVERIFY(bar);
    QVERIFY(bar->width() >= 60);
    const QImage image = bar->grab().toImage();
    const int y = image.height() / 2;
    const QColor amber = CostGauge::color(CostGauge::Level::Warning);
    const QColor spentPixel = image.pixelColor(int(image.width() * 0.25), y);
    QCOMPARE(spentPixel.rgb(), amber.rgb());
    // In flight: the same colour, lighter (blended with the base).
    const QColor inFlight = image.pixelColor(int(image.width() * 0.70), y);
    QVERIFY2(inFlight.rgb() != amber.rgb() && inFlight.rgb() != bar->palette().color(QPalette::Base).rgb(),
             qPrintable(inFlight.name()));
    // What is left of the budget: empty.
    QCOMPARE(image.pixelColor(int(image.width() * 0.95), y).rgb(),
             bar->palette().color(QPalette::Base).rgb());
}

QTEST_MAIN(tst_CostGauge)
#include "tst_costgauge.moc"
