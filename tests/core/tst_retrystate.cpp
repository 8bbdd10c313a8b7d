#include "manualclock.h"
#include "retry/retrybudget.h"
#include "retry/retrystate.h"

#include <QTest>

using namespace Sluice;

Q_DECLARE_METATYPE(Sluice::RetryVerdict)

/// The retry verdict (one owner of the rules) and the retry budget's minimum concurrency.
class tst_RetryState : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void verdicts_data();
    void verdicts();
    void finalMessages();
    void budgetOnlyForTheRequestsOwnFailures();
    void budgetAlwaysAllowsMinimumConcurrency();
    void budgetCreditCapsRetriesAboveTheMinimum();
};

void tst_RetryState::verdicts_data()
{
    QTest::addColumn<int>("cls");
    QTest::addColumn<bool>("retryable");
    QTest::addColumn<int>("attempts");
    QTest::addColumn<bool>("otherUsable");
    QTest::addColumn<bool>("mayRetry");
    QTest::addColumn<RetryVerdict>("verdict");
    const auto row = [](const char *name, ErrorClass c, bool r, int a, bool other, bool may, RetryVerdict v) {
        QTest::newRow(name) << int(c) << r << a << other << may << v;
    };
    using V = RetryVerdict;
    row("success", ErrorClass::None, false, 1, true, true, V::No);
    row("500 first: backoff", ErrorClass::Server, true, 1, false, true, V::Yes);
    row("500 fourth of five", ErrorClass::Server, true, 4, false, true, V::Yes);
    row("500 fifth of five", ErrorClass::Server, true, 5, false, true, V::NoAttemptsLeft);
    row("timeout", ErrorClass::Timeout, true, 2, false, true, V::Yes);
    row("reset", ErrorClass::Transport, true, 1, false, true, V::Yes);
    row("529", ErrorClass::Overloaded, true, 1, false, true, V::Yes);
    row("429: the limiter holds it", ErrorClass::RateLimited, true, 1, false, true, V::WhenEndpointRecovers);
    row("429 fifth of five", ErrorClass::RateLimited, true, 5, false, true, V::NoAttemptsLeft);
    row("400 never", ErrorClass::Client, false, 1, true, true, V::No);
    row("quota, no other endpoint", ErrorClass::Quota, false, 1, false, true, V::No);
    row("quota, another endpoint", ErrorClass::Quota, false, 1, true, true, V::WhenEndpointRecovers);
    row("quota, another endpoint, last attempt", ErrorClass::Quota, false, 5, true, true, V::NoAttemptsLeft);
    row("500 while stopping", ErrorClass::Server, true, 1, true, false, V::NoBudget);
    row("400 while stopping", ErrorClass::Client, false, 1, true, false, V::No);
}

void tst_RetryState::verdicts()
{
    QFETCH(int, cls);
    QFETCH(bool, retryable);
    QFETCH(int, attempts);
    QFETCH(bool, otherUsable);
    QFETCH(bool, mayRetry);
    QFETCH(RetryVerdict, verdict);
    Test::ScriptedRandom rng({0.5});
    RetryState state(RetryConfig{5, 100, 1000, 600000}, &rng);
    const RetryPlan plan = state.decide(Outcome{ErrorClass(cls), retryable, QString()}, attempts, -1,
                                        RetryContext{otherUsable, mayRetry});
    QCOMPARE(toString(plan.verdict), toString(verdict));
    if (verdict == RetryVerdict::Yes) {
        // Full jitter at 0.5 of min(cap, base * 2^(attempts-1)).
        QCOMPARE(plan.delayMs, 0.5 * std::min(1000.0, 100.0 * (1 << (attempts - 1))));
    } else {
        QCOMPARE(plan.delayMs, 0.0);
    }
}

void tst_RetryState::finalMessages()
{
    QCOMPARE(RetryState::finalMessage(QStringLiteral("HTTP 500"), {RetryVerdict::NoAttemptsLeft, 0}, 5),
             QStringLiteral("HTTP 500 (gave up after 5 attempts)"));
    QCOMPARE(RetryState::finalMessage(QStringLiteral("HTTP 500"), {RetryVerdict::NoBudget, 0}, 2),
             QStringLiteral("HTTP 500 (run stopped before a retry)"));
    QCOMPARE(RetryState::finalMessage(QStringLiteral("HTTP 400"), {RetryVerdict::No, 0}, 1),
             QStringLiteral("HTTP 400"));
}

void tst_RetryState::budgetOnlyForTheRequestsOwnFailures()
{
    QVERIFY(RetryState::drawsOnRetryBudget(ErrorClass::Server));
    QVERIFY(RetryState::drawsOnRetryBudget(ErrorClass::Timeout));
    QVERIFY(RetryState::drawsOnRetryBudget(ErrorClass::Transport));
    QVERIFY(RetryState::drawsOnRetryBudget(ErrorClass::Overloaded));
    QVERIFY(!RetryState::drawsOnRetryBudget(ErrorClass::RateLimited));
    QVERIFY(!RetryState::drawsOnRetryBudget(ErrorClass::Quota));
}

void tst_RetryState::budgetAlwaysAllowsMinimumConcurrency()
{
    // The tail of a run: no first attempts earn credit any more, and the banked credit is spent.
    Test::ManualClock clock;
    RetryBudget budget(&clock, 0.2, 1.0, 10.0, 3);
    // Spend the banked credit: 3 ride on the minimum concurrency, 10 more on credit.
    for (int i = 0; i < 13; ++i) {
        QVERIFY(budget.canRetry());
        budget.onRetry();
    }
    QVERIFY(!budget.canRetry());
    for (int i = 0; i < 13; ++i) {
        budget.onRetryDone();
    }
    // Credit is gone, but nothing is in flight: retries still go, one after another, without waiting.
    for (int i = 0; i < 1000; ++i) {
        QVERIFY2(budget.canRetry(), qPrintable(QString::number(i)));
        QCOMPARE(budget.msUntilRetry(), 0.0);
        budget.onRetry();
        budget.onRetryDone();
    }
    // Three at once are always allowed, the fourth waits for credit (time earns 1/s).
    for (int i = 0; i < 3; ++i) {
        QVERIFY(budget.canRetry());
        budget.onRetry();
    }
    QVERIFY(!budget.canRetry());
    QCOMPARE(budget.retriesInFlight(), 3);
    QVERIFY(budget.msUntilRetry() > 0);
    budget.onRetryDone();
    QVERIFY(budget.canRetry());
}

void tst_RetryState::budgetCreditCapsRetriesAboveTheMinimum()
{
    // A failing endpoint in the middle of a run: 100 first attempts earn 20 retries (ratio 0.2) on top
    // of the burst of 10, and the minimum of 3 in flight: no more may be in flight at once.
    Test::ManualClock clock;
    RetryBudget budget(&clock, 0.2, 1.0, 10.0, 3);
    for (int i = 0; i < 100; ++i) {
        budget.onFirstAttempt();
    }
    int sent = 0;
    while (budget.canRetry() && sent < 1000) {
        budget.onRetry();
        ++sent;
    }
    QCOMPARE(sent, 10 + 3); // the burst caps banked credit at 10; then the minimum concurrency
}

QTEST_APPLESS_MAIN(tst_RetryState)
#include "tst_retrystate.moc"
