#include "net/ratelimitheaders.h"

#include <QHash>
#include <QList>
#include <QPair>
#include <QTest>
#include <QTimeZone>

#include <cctype>

using namespace Sluice;

Q_DECLARE_METATYPE(Sluice::RateLimitInfo)

namespace {

/// The fixed "now" of every test: Sun, 22 Nov 2026 23:57:00 UTC.
QDateTime fixedNow()
{
    return QDateTime(QDate(2026, 11, 22), QTime(23, 57, 0), QTimeZone::utc());
}

/// Headers as "name: value" lines (names lower-cased, as QNetworkReply's lookup would accept them).
QHash<QByteArray, QByteArray> headerMap(const QByteArrayList &lines)
{
    QHash<QByteArray, QByteArray> map;
    for (const QByteArray &line : lines) {
        const qsizetype colon = line.indexOf(':');
        map.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1));
    }
    return map;
}

/// The same headers as a reply's header list, names in Title-Case ("X-Ratelimit-Limit-Requests"), as
/// HTTP/1.1 servers send them.
QList<QPair<QByteArray, QByteArray>> headerPairs(const QByteArrayList &lines)
{
    QList<QPair<QByteArray, QByteArray>> pairs;
    const QHash<QByteArray, QByteArray> map = headerMap(lines);
    for (auto it = map.begin(); it != map.end(); ++it) {
        QByteArray name = it.key();
        for (qsizetype i = 0; i < name.size(); ++i) {
            if (i == 0 || name.at(i - 1) == '-') {
                name[i] = char(std::toupper(static_cast<unsigned char>(name.at(i))));
            }
        }
        pairs.append(qMakePair(name, it.value()));
    }
    return pairs;
}

RateLimitInfo info(double requestLimit, double requestRemaining, double requestResetMs, double tokenLimit,
                   double tokenRemaining, double tokenResetMs, double retryAfterMs)
{
    RateLimitInfo i;
    i.requestLimit = requestLimit;
    i.requestRemaining = requestRemaining;
    i.requestResetMs = requestResetMs;
    i.tokenLimit = tokenLimit;
    i.tokenRemaining = tokenRemaining;
    i.tokenResetMs = tokenResetMs;
    i.retryAfterMs = retryAfterMs;
    return i;
}

const RateLimitInfo nothing = info(-1, -1, -1, -1, -1, -1, -1);

} // namespace

class tst_RateLimitHeaders : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void goDurationMs_data();
    void goDurationMs();
    void rfc3339DelayMs_data();
    void rfc3339DelayMs();
    void rfc3339DelayMsWithInvalidNow();
    void parse_data();
    void parse();
    void parseListWithoutRateLimitHeaders();
    void parseWithEmptyLookup();
    void parseAsksForLowerCaseNames();
    void hasInfo();
};

void tst_RateLimitHeaders::goDurationMs_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<double>("expected");

    // Valid, from OpenAI's documentation and Go's time.ParseDuration.
    QTest::newRow("0 alone") << QByteArray("0") << 0.0;
    QTest::newRow("0s") << QByteArray("0s") << 0.0;
    QTest::newRow("6ms") << QByteArray("6ms") << 6.0;
    QTest::newRow("1s") << QByteArray("1s") << 1000.0;
    QTest::newRow("6m0s") << QByteArray("6m0s") << 360000.0;
    QTest::newRow("1m26.4s") << QByteArray("1m26.4s") << 86400.0;
    QTest::newRow("310ms") << QByteArray("310ms") << 310.0;
    QTest::newRow("2h3m0.5s") << QByteArray("2h3m0.5s") << 7380500.0;
    QTest::newRow("1h2m3s") << QByteArray("1h2m3s") << 3723000.0;
    QTest::newRow("20us") << QByteArray("20us") << 0.02;
    QTest::newRow("20 micro sign s") << QByteArray("20\xC2\xB5s") << 0.02;
    QTest::newRow("20 greek mu s") << QByteArray("20\xCE\xBCs") << 0.02;
    QTest::newRow("1500ns") << QByteArray("1500ns") << 0.0015;
    QTest::newRow("1.5h") << QByteArray("1.5h") << 5400000.0;
    QTest::newRow("0.5ms") << QByteArray("0.5ms") << 0.5;
    QTest::newRow("fraction without integer .5s") << QByteArray(".5s") << 500.0;
    QTest::newRow("integer with empty fraction 1.s") << QByteArray("1.s") << 1000.0;
    QTest::newRow("1s500ms") << QByteArray("1s500ms") << 1500.0;
    QTest::newRow("repeated unit 1m1m") << QByteArray("1m1m") << 120000.0;
    QTest::newRow("surrounding spaces") << QByteArray(" 1s\t") << 1000.0;
    QTest::newRow("leading zeros 007s") << QByteArray("007s") << 7000.0;
    QTest::newRow("excess fraction digits dropped")
        << QByteArray("1.00000000000000000000000000001s") << 1000.0;
    QTest::newRow("largest hours that fit int64 ns") << QByteArray("2562047h") << 2562047.0 * 3600000.0;

    // Invalid.
    QTest::newRow("empty") << QByteArray() << -1.0;
    QTest::newRow("blank") << QByteArray("  ") << -1.0;
    QTest::newRow("negative -1s") << QByteArray("-1s") << -1.0;
    QTest::newRow("plus sign +1s") << QByteArray("+1s") << -1.0;
    QTest::newRow("no unit 10") << QByteArray("10") << -1.0;
    QTest::newRow("no unit 00") << QByteArray("00") << -1.0;
    QTest::newRow("no unit after part 1s5") << QByteArray("1s5") << -1.0;
    QTest::newRow("unknown unit 1d") << QByteArray("1d") << -1.0;
    QTest::newRow("unknown unit 1ss") << QByteArray("1ss") << -1.0;
    QTest::newRow("space inside 1 s") << QByteArray("1 s") << -1.0;
    QTest::newRow("space between parts") << QByteArray("1m 2s") << -1.0;
    QTest::newRow("unit alone s") << QByteArray("s") << -1.0;
    QTest::newRow("dot alone .s") << QByteArray(".s") << -1.0;
    QTest::newRow("two dots 1.5.5s") << QByteArray("1.5.5s") << -1.0;
    QTest::newRow("exponent 1e400") << QByteArray("1e400") << -1.0;
    QTest::newRow("words") << QByteArray("soon") << -1.0;
    QTest::newRow("nan") << QByteArray("nan") << -1.0;
    QTest::newRow("inf") << QByteArray("inf") << -1.0;
    QTest::newRow("overflow 2562048h") << QByteArray("2562048h") << -1.0;
    QTest::newRow("overflow digits") << QByteArray("99999999999999999999s") << -1.0;
    QTest::newRow("overflow long digits") << QByteArray(400, '9') + QByteArray("ns") << -1.0;
    QTest::newRow("overflow sum") << QByteArray("2562047h2562047h") << -1.0;
    QTest::newRow("lone micro sign byte") << QByteArray("1\xC2s") << -1.0;
    QTest::newRow("upper-case unit 1S") << QByteArray("1S") << -1.0;
}

void tst_RateLimitHeaders::goDurationMs()
{
    QFETCH(QByteArray, text);
    QFETCH(double, expected);

    QCOMPARE(RateLimitHeaders::goDurationMs(text), expected);
}

void tst_RateLimitHeaders::rfc3339DelayMs_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<double>("expected");

    // now = 2026-11-22T23:57:00Z
    QTest::newRow("Z") << QByteArray("2026-11-22T23:57:31Z") << 31000.0;
    QTest::newRow("fraction .250") << QByteArray("2026-11-22T23:57:31.250Z") << 31250.0;
    QTest::newRow("fraction .5") << QByteArray("2026-11-22T23:57:31.5Z") << 31500.0;
    QTest::newRow("fraction nanoseconds") << QByteArray("2026-11-22T23:57:31.123456789Z") << 31123.456789;
    QTest::newRow("negative offset") << QByteArray("2026-11-22T18:57:31-05:00") << 31000.0;
    QTest::newRow("positive offset, next day") << QByteArray("2026-11-23T00:57:31+01:00") << 31000.0;
    QTest::newRow("half-hour offset") << QByteArray("2026-11-23T05:27:31.5+05:30") << 31500.0;
    QTest::newRow("offset beyond 14 h") << QByteArray("2026-11-23T23:56:31+23:59") << 31000.0;
    QTest::newRow("zero offset") << QByteArray("2026-11-22T23:58:00+00:00") << 60000.0;
    QTest::newRow("lower-case t and z") << QByteArray("2026-11-22t23:57:31z") << 31000.0;
    QTest::newRow("space separator") << QByteArray("2026-11-22 23:57:31Z") << 31000.0;
    QTest::newRow("surrounding spaces") << QByteArray(" 2026-11-22T23:57:31Z ") << 31000.0;
    QTest::newRow("leap second") << QByteArray("2026-11-22T23:57:60Z") << 60000.0;
    QTest::newRow("a day ahead") << QByteArray("2026-11-23T23:57:00Z") << 86400000.0;
    QTest::newRow("equal to now") << QByteArray("2026-11-22T23:57:00Z") << 0.0;
    QTest::newRow("past") << QByteArray("2026-11-22T23:56:00Z") << 0.0;
    QTest::newRow("past by offset") << QByteArray("2026-11-22T23:57:31+01:00") << 0.0;
    QTest::newRow("long past") << QByteArray("1970-01-01T00:00:00Z") << 0.0;

    QTest::newRow("empty") << QByteArray() << -1.0;
    QTest::newRow("garbage") << QByteArray("tomorrow") << -1.0;
    QTest::newRow("no offset (local time)") << QByteArray("2026-11-22T23:57:31") << -1.0;
    QTest::newRow("date only") << QByteArray("2026-11-22") << -1.0;
    QTest::newRow("no seconds") << QByteArray("2026-11-22T23:57Z") << -1.0;
    QTest::newRow("month 13") << QByteArray("2026-13-22T23:57:31Z") << -1.0;
    QTest::newRow("30 February") << QByteArray("2026-02-30T00:00:00Z") << -1.0;
    QTest::newRow("hour 24") << QByteArray("2026-11-22T24:00:00Z") << -1.0;
    QTest::newRow("minute 60") << QByteArray("2026-11-22T23:60:00Z") << -1.0;
    QTest::newRow("second 61") << QByteArray("2026-11-22T23:57:61Z") << -1.0;
    QTest::newRow("empty fraction") << QByteArray("2026-11-22T23:57:31.Z") << -1.0;
    QTest::newRow("offset without colon") << QByteArray("2026-11-22T23:57:31+0500") << -1.0;
    QTest::newRow("offset hour 24") << QByteArray("2026-11-22T23:57:31+24:00") << -1.0;
    QTest::newRow("trailing junk") << QByteArray("2026-11-22T23:57:31Zjunk") << -1.0;
    QTest::newRow("two-digit year") << QByteArray("26-11-22T23:57:31Z") << -1.0;
    QTest::newRow("http date") << QByteArray("Sun, 22 Nov 2026 23:57:31 GMT") << -1.0;
    QTest::newRow("number") << QByteArray("1e400") << -1.0;
    QTest::newRow("go duration") << QByteArray("6m0s") << -1.0;
}

void tst_RateLimitHeaders::rfc3339DelayMs()
{
    QFETCH(QByteArray, text);
    QFETCH(double, expected);

    QCOMPARE(RateLimitHeaders::rfc3339DelayMs(text, fixedNow()), expected);
    // The same instant seen from another zone gives the same delay.
    QCOMPARE(RateLimitHeaders::rfc3339DelayMs(text, fixedNow().toTimeZone(QTimeZone(-5 * 3600))), expected);
}

void tst_RateLimitHeaders::rfc3339DelayMsWithInvalidNow()
{
    QCOMPARE(RateLimitHeaders::rfc3339DelayMs("2026-11-22T23:57:31Z", QDateTime()), -1.0);
}

void tst_RateLimitHeaders::parse_data()
{
    QTest::addColumn<QByteArrayList>("headers");
    QTest::addColumn<RateLimitInfo>("expected");

    const QByteArrayList openAiRequests = {
        "x-ratelimit-limit-requests: 10000",
        "x-ratelimit-remaining-requests: 9999",
        "x-ratelimit-reset-requests: 6ms",
    };
    const QByteArrayList openAiTokens = {
        "x-ratelimit-limit-tokens: 200000",
        "x-ratelimit-remaining-tokens: 199000",
        "x-ratelimit-reset-tokens: 1m26.4s",
    };
    const QByteArrayList anthropicRequests = {
        "anthropic-ratelimit-requests-limit: 50",
        "anthropic-ratelimit-requests-remaining: 49",
        "anthropic-ratelimit-requests-reset: 2026-11-22T23:57:31Z",
    };
    const QByteArrayList anthropicTokens = {
        "anthropic-ratelimit-tokens-limit: 80000",
        "anthropic-ratelimit-tokens-remaining: 79000",
        "anthropic-ratelimit-tokens-reset: 2026-11-22T23:57:01.250Z",
    };
    const QByteArrayList anthropicInput = {
        "anthropic-ratelimit-input-tokens-limit: 40000",
        "anthropic-ratelimit-input-tokens-remaining: 39500",
        "anthropic-ratelimit-input-tokens-reset: 2026-11-22T18:57:02-05:00",
    };
    const QByteArrayList anthropicOutput = {
        "anthropic-ratelimit-output-tokens-limit: 8000",
        "anthropic-ratelimit-output-tokens-remaining: 7000",
        "anthropic-ratelimit-output-tokens-reset: 2026-11-22T23:57:03Z",
    };

    QTest::newRow("no headers") << QByteArrayList() << nothing;
    QTest::newRow("unrelated headers")
        << QByteArrayList{"content-type: application/json", "x-request-id: 1"} << nothing;

    QTest::newRow("openai only") << openAiRequests + openAiTokens
                                 << info(10000, 9999, 6, 200000, 199000, 86400, -1);
    QTest::newRow("openai requests only") << openAiRequests << info(10000, 9999, 6, -1, -1, -1, -1);
    QTest::newRow("openai zero remaining, 0s reset")
        << QByteArrayList{"x-ratelimit-limit-requests: 500", "x-ratelimit-remaining-requests: 0",
                          "x-ratelimit-reset-requests: 0s", "x-ratelimit-reset-tokens: 0"}
        << info(500, 0, 0, -1, -1, 0, -1);

    QTest::newRow("anthropic only, tokens wins over input and output")
        << anthropicRequests + anthropicTokens + anthropicInput + anthropicOutput
        << info(50, 49, 31000, 80000, 79000, 1250, -1);
    QTest::newRow("anthropic only, tokens alone")
        << anthropicRequests + anthropicTokens << info(50, 49, 31000, 80000, 79000, 1250, -1);
    QTest::newRow("anthropic with only input-tokens") << anthropicRequests + anthropicInput + anthropicOutput
                                                      << info(50, 49, 31000, 40000, 39500, 2000, -1);
    QTest::newRow("anthropic with only output-tokens")
        << anthropicRequests + anthropicOutput << info(50, 49, 31000, -1, -1, -1, -1);
    QTest::newRow("anthropic tokens bucket partial: not mixed with input-tokens")
        << QByteArrayList{"anthropic-ratelimit-tokens-remaining: 100"} + anthropicInput
        << info(-1, -1, -1, -1, 100, -1, -1);
    QTest::newRow("anthropic reset in the past")
        << QByteArrayList{"anthropic-ratelimit-requests-reset: 2026-11-22T23:56:59Z"}
        << info(-1, -1, 0, -1, -1, -1, -1);

    QTest::newRow("both present: openai wins")
        << anthropicRequests + openAiTokens + anthropicTokens + openAiRequests + anthropicInput
        << info(10000, 9999, 6, 200000, 199000, 86400, -1);
    QTest::newRow("both present, openai tokens only: requests from anthropic")
        << anthropicRequests + anthropicTokens + openAiTokens
        << info(50, 49, 31000, 200000, 199000, 86400, -1);
    QTest::newRow("both present, openai requests only: tokens from anthropic")
        << openAiRequests + anthropicRequests + anthropicInput
        << info(10000, 9999, 6, 40000, 39500, 2000, -1);
    QTest::newRow("openai bucket present but garbage: no fallback to anthropic")
        << QByteArrayList{"x-ratelimit-limit-requests: lots"} + anthropicRequests
        << info(-1, -1, -1, -1, -1, -1, -1);

    QTest::newRow("retry-after-ms wins over retry-after")
        << QByteArrayList{"retry-after-ms: 1500.5", "retry-after: 7"} << info(-1, -1, -1, -1, -1, -1, 1500.5);
    QTest::newRow("retry-after seconds")
        << QByteArrayList{"retry-after: 7"} << info(-1, -1, -1, -1, -1, -1, 7000);
    QTest::newRow("retry-after http date") << QByteArrayList{"retry-after: Sun, 22 Nov 2026 23:58:00 GMT"}
                                           << info(-1, -1, -1, -1, -1, -1, 60000);
    QTest::newRow("garbage retry-after-ms falls back to retry-after")
        << QByteArrayList{"retry-after-ms: soon", "retry-after: 2"} << info(-1, -1, -1, -1, -1, -1, 2000);
    QTest::newRow("garbage retry-after") << QByteArrayList{"retry-after: whenever"} << nothing;
    QTest::newRow("retry-after with openai limits")
        << openAiRequests + QByteArrayList{"retry-after: 1"} << info(10000, 9999, 6, -1, -1, -1, 1000);

    QTest::newRow("openai partially garbage")
        << QByteArrayList{"x-ratelimit-limit-requests: lots",  "x-ratelimit-remaining-requests: -5",
                          "x-ratelimit-reset-requests: 6m0s",  "x-ratelimit-limit-tokens: 1e400",
                          "x-ratelimit-remaining-tokens: 0.5", "x-ratelimit-reset-tokens: forever"}
        << info(-1, -1, 360000, -1, 0.5, -1, -1);
    QTest::newRow("anthropic partially garbage")
        << QByteArrayList{"anthropic-ratelimit-requests-limit: 50",
                          "anthropic-ratelimit-requests-remaining: 4 9",
                          "anthropic-ratelimit-requests-reset: tomorrow",
                          "anthropic-ratelimit-tokens-limit: 9.5e3",
                          "anthropic-ratelimit-tokens-remaining: 79000",
                          "anthropic-ratelimit-tokens-reset: 2026-11-22T23:57:31"}
        << info(50, -1, -1, -1, 79000, -1, -1);
    QTest::newRow("numbers: fractions, spaces, signs, separators")
        << QByteArrayList{"x-ratelimit-limit-requests:  12.5 ", "x-ratelimit-remaining-requests: +3",
                          "x-ratelimit-limit-tokens: 1,000", "x-ratelimit-remaining-tokens: .5"}
        << info(12.5, -1, -1, -1, -1, -1, -1);
    QTest::newRow("numbers: huge digit run is unreadable")
        << QByteArrayList{QByteArray("x-ratelimit-limit-requests: ") + QByteArray(400, '9'),
                          "x-ratelimit-remaining-requests: 99999999999999999999"}
        << info(-1, 1e20, -1, -1, -1, -1, -1);
    QTest::newRow("numbers: hex, inf, nan")
        << QByteArrayList{"x-ratelimit-limit-requests: 0x10", "x-ratelimit-remaining-requests: inf",
                          "x-ratelimit-limit-tokens: nan", "x-ratelimit-remaining-tokens: 1."}
        << nothing;
    QTest::newRow("blank values count as absent")
        << QByteArrayList{"x-ratelimit-limit-requests:  ", "x-ratelimit-limit-tokens:"} + anthropicRequests +
               anthropicTokens
        << info(50, 49, 31000, 80000, 79000, 1250, -1);
}

void tst_RateLimitHeaders::parse()
{
    QFETCH(QByteArrayList, headers);
    QFETCH(RateLimitInfo, expected);

    const QHash<QByteArray, QByteArray> map = headerMap(headers);
    const RateLimitInfo fromLookup =
        RateLimitHeaders::parse([&map](const QByteArray &name) { return map.value(name); }, fixedNow());
    // The header-list form (what the transport uses) reads the same from Title-Case names.
    const RateLimitInfo fromList = RateLimitHeaders::parse(headerPairs(headers), fixedNow);

    for (const RateLimitInfo &actual : {fromLookup, fromList}) {
        QCOMPARE(actual.requestLimit, expected.requestLimit);
        QCOMPARE(actual.requestRemaining, expected.requestRemaining);
        QCOMPARE(actual.requestResetMs, expected.requestResetMs);
        QCOMPARE(actual.tokenLimit, expected.tokenLimit);
        QCOMPARE(actual.tokenRemaining, expected.tokenRemaining);
        QCOMPARE(actual.tokenResetMs, expected.tokenResetMs);
        QCOMPARE(actual.retryAfterMs, expected.retryAfterMs);
    }
}

void tst_RateLimitHeaders::parseListWithoutRateLimitHeaders()
{
    // A reply without any rate-limit header: defaults, and the clock is never read.
    int clockReads = 0;
    const auto clock = [&clockReads] {
        ++clockReads;
        return fixedNow();
    };
    const QList<QPair<QByteArray, QByteArray>> plain = {{"Content-Type", "application/json"},
                                                        {"Content-Length", "120"},
                                                        {"X-Request-Id", "req_1"},
                                                        {"X-Ratelimit", "no dash after the prefix word"},
                                                        {"Retry", "1"}};
    const RateLimitInfo none = RateLimitHeaders::parse(plain, clock);
    QCOMPARE(clockReads, 0);
    QCOMPARE(none.requestLimit, -1.0);
    QCOMPARE(none.tokenRemaining, -1.0);
    QCOMPARE(none.retryAfterMs, -1.0);

    // One such header among others is enough to be read, whatever the case of its name.
    QList<QPair<QByteArray, QByteArray>> withOne = plain;
    withOne.append(qMakePair(QByteArray("RETRY-AFTER"), QByteArray("2")));
    QCOMPARE(RateLimitHeaders::parse(withOne, clock).retryAfterMs, 2000.0);
    QCOMPARE(clockReads, 1);
}

void tst_RateLimitHeaders::parseWithEmptyLookup()
{
    const RateLimitInfo actual = RateLimitHeaders::parse({}, fixedNow());
    QCOMPARE(actual.requestLimit, -1.0);
    QCOMPARE(actual.tokenLimit, -1.0);
    QCOMPARE(actual.retryAfterMs, -1.0);
    QVERIFY(!actual.hasRequestInfo());
    QVERIFY(!actual.hasTokenInfo());
}

void tst_RateLimitHeaders::parseAsksForLowerCaseNames()
{
    QByteArrayList asked;
    RateLimitHeaders::parse(
        [&asked](const QByteArray &name) {
            asked.append(name);
            return QByteArray();
        },
        fixedNow());
    QVERIFY(asked.contains("x-ratelimit-reset-tokens"));
    QVERIFY(asked.contains("anthropic-ratelimit-input-tokens-remaining"));
    QVERIFY(asked.contains("retry-after-ms"));
    QVERIFY(asked.contains("retry-after"));
    for (const QByteArray &name : std::as_const(asked)) {
        QCOMPARE(name, name.toLower());
    }
}

void tst_RateLimitHeaders::hasInfo()
{
    RateLimitInfo i;
    QVERIFY(!i.hasRequestInfo());
    QVERIFY(!i.hasTokenInfo());
    i.requestRemaining = 0;
    QVERIFY(i.hasRequestInfo());
    QVERIFY(!i.hasTokenInfo());
    i.tokenLimit = 1000;
    QVERIFY(i.hasTokenInfo());
}

QTEST_GUILESS_MAIN(tst_RateLimitHeaders)
#include "tst_ratelimitheaders.moc"
