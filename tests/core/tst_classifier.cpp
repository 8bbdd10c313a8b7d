#include "net/classifier.h"

#include <QTest>

#include <nlohmann/json.hpp>

using namespace Sluice;

class tst_Classifier : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void classify_data();
    void classify();
    void readsOpenAIAndAnthropicErrorBodies();
    void redirectMessageNamesOnlyTheOrigin();
    void timeoutNamesTheDeadline();
    void tlsRefusalIsFinalAndPrecise();
    void refusedAfterReconnectsSaysSo();
    void setupErrorIsFinal();
};

void tst_Classifier::classify_data()
{
    QTest::addColumn<int>("status");
    QTest::addColumn<int>("networkError");
    QTest::addColumn<bool>("timedOut");
    QTest::addColumn<bool>("cancelled");
    QTest::addColumn<bool>("complete");
    QTest::addColumn<bool>("json");
    QTest::addColumn<QString>("apiCode");
    QTest::addColumn<QString>("expectedClass");
    QTest::addColumn<bool>("retryable");

    const int none = QNetworkReply::NoError;
    QTest::newRow("200 json") << 200 << none << false << false << true << true << QString() << "none"
                              << false;
    QTest::newRow("201 json") << 201 << none << false << false << true << true << QString() << "none"
                              << false;
    QTest::newRow("200 truncated") << 200 << int(QNetworkReply::RemoteHostClosedError) << false << false
                                   << false << true << QString() << "transport" << true;
    QTest::newRow("200 not json") << 200 << none << false << false << true << false << QString()
                                  << "transport" << true;
    QTest::newRow("301") << 301 << none << false << false << true << false << QString() << "client" << false;
    QTest::newRow("400") << 400 << int(QNetworkReply::ProtocolInvalidOperationError) << false << false << true
                         << true << QString() << "client" << false;
    QTest::newRow("401") << 401 << none << false << false << true << true << QString() << "client" << false;
    QTest::newRow("404") << 404 << none << false << false << true << true << QString() << "client" << false;
    QTest::newRow("408") << 408 << none << false << false << true << true << QString() << "timeout" << true;
    QTest::newRow("429") << 429 << none << false << false << true << true << QString() << "rate_limited"
                         << true;
    QTest::newRow("429 insufficient_quota") << 429 << none << false << false << true << true
                                            << QStringLiteral("insufficient_quota") << "quota" << false;
    QTest::newRow("500") << 500 << int(QNetworkReply::InternalServerError) << false << false << true << true
                         << QString() << "server" << true;
    QTest::newRow("502") << 502 << none << false << false << true << false << QString() << "server" << true;
    QTest::newRow("503") << 503 << none << false << false << true << true << QString() << "overloaded"
                         << true;
    QTest::newRow("529") << 529 << none << false << false << true << true << QString() << "overloaded"
                         << true;
    QTest::newRow("refused") << 0 << int(QNetworkReply::ConnectionRefusedError) << false << false << true
                             << false << QString() << "transport" << true;
    QTest::newRow("reset") << 0 << int(QNetworkReply::RemoteHostClosedError) << false << false << true
                           << false << QString() << "transport" << true;
    QTest::newRow("tls handshake") << 0 << int(QNetworkReply::SslHandshakeFailedError) << false << false
                                   << true << false << QString() << "transport" << false;
    QTest::newRow("our deadline") << 0 << int(QNetworkReply::OperationCanceledError) << true << false << true
                                  << false << QString() << "timeout" << true;
    QTest::newRow("qt idle timeout") << 0 << int(QNetworkReply::OperationCanceledError) << false << false
                                     << true << false << QString() << "timeout" << true;
    QTest::newRow("user stop is not a timeout") << 0 << int(QNetworkReply::OperationCanceledError) << false
                                                << true << true << false << QString() << "cancelled" << false;
    QTest::newRow("deadline beats a late status")
        << 200 << none << true << false << true << true << QString() << "timeout" << true;
}

void tst_Classifier::classify()
{
    QFETCH(int, status);
    QFETCH(int, networkError);
    QFETCH(bool, timedOut);
    QFETCH(bool, cancelled);
    QFETCH(bool, complete);
    QFETCH(bool, json);
    QFETCH(QString, apiCode);
    QFETCH(QString, expectedClass);
    QFETCH(bool, retryable);

    AttemptReport r;
    r.httpStatus = status;
    r.networkError = QNetworkReply::NetworkError(networkError);
    r.timedOut = timedOut;
    r.cancelled = cancelled;
    r.bodyComplete = complete;
    r.bodyIsJson = json;
    r.apiErrorCode = apiCode;
    const Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), expectedClass);
    QCOMPARE(o.retryable, retryable);
    QCOMPARE(o.isSuccess(), expectedClass == QLatin1String("none"));
    if (!o.isSuccess()) {
        QVERIFY(!o.message.isEmpty());
    }
    if (status >= 400) {
        QVERIFY2(o.message.contains(QString::number(status)), qPrintable(o.message));
    }
}

void tst_Classifier::readsOpenAIAndAnthropicErrorBodies()
{
    AttemptReport openai;
    Classifier::readApiError(nlohmann::json::parse(R"({"error": {"message": "You exceeded your current quota",
        "type": "insufficient_quota", "code": "insufficient_quota"}})"),
                             openai);
    QCOMPARE(openai.apiErrorCode, QStringLiteral("insufficient_quota"));
    QCOMPARE(openai.apiErrorMessage, QStringLiteral("You exceeded your current quota"));
    openai.httpStatus = 429;
    const Outcome quota = Classifier::classify(openai);
    QCOMPARE(toString(quota.cls), QStringLiteral("quota"));
    QVERIFY(quota.message.contains(QStringLiteral("current quota")));

    AttemptReport anthropic;
    Classifier::readApiError(
        nlohmann::json::parse(
            R"({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})"),
        anthropic);
    QCOMPARE(anthropic.apiErrorType, QStringLiteral("overloaded_error"));
    anthropic.httpStatus = 529;
    QCOMPARE(toString(Classifier::classify(anthropic).cls), QStringLiteral("overloaded"));

    AttemptReport garbage;
    Classifier::readApiError(nlohmann::json::parse(R"({"error": 42})"), garbage);
    Classifier::readApiError(nlohmann::json::parse(R"([1, 2])"), garbage);
    QVERIFY(garbage.apiErrorMessage.isEmpty());
    QVERIFY(garbage.apiErrorCode.isEmpty());
}

void tst_Classifier::redirectMessageNamesOnlyTheOrigin()
{
    AttemptReport r;
    r.httpStatus = 302;
    r.redirectTarget = QStringLiteral("https://elsewhere.example");
    const Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), QStringLiteral("client"));
    QVERIFY(!o.retryable);
    QVERIFY(o.message.contains(QStringLiteral("redirect to https://elsewhere.example")));
    QCOMPARE(o.message,
             QStringLiteral("HTTP 302: unexpected redirect to https://elsewhere.example, the same origin "
                            "(not followed)"));
    r.redirectCrossOrigin = true;
    QCOMPARE(Classifier::classify(r).message,
             QStringLiteral("HTTP 302: unexpected redirect to https://elsewhere.example, another origin (not "
                            "followed)"));
    r.redirectTarget.clear();
    QCOMPARE(Classifier::classify(r).message, QStringLiteral("HTTP 302: unexpected redirect (not followed)"));
}

void tst_Classifier::timeoutNamesTheDeadline()
{
    AttemptReport r;
    r.timedOut = true;
    r.networkError = QNetworkReply::OperationCanceledError;
    r.deadlineMs = 1500;
    Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), QStringLiteral("timeout"));
    QVERIFY(o.retryable);
    QCOMPARE(o.message, QStringLiteral("timeout: no complete reply within the attempt deadline of 1.5 s"));
    r.deadlineMs = 120000;
    QCOMPARE(Classifier::classify(r).message,
             QStringLiteral("timeout: no complete reply within the attempt deadline of 120 s"));
    // A user stop during the same attempt is a cancel, never a timeout.
    r.cancelled = true;
    QCOMPARE(toString(Classifier::classify(r).cls), QStringLiteral("cancelled"));
}

void tst_Classifier::tlsRefusalIsFinalAndPrecise()
{
    AttemptReport r;
    r.networkError = QNetworkReply::SslHandshakeFailedError;
    r.networkErrorString =
        QStringLiteral("SSL handshake failed: The certificate is self-signed, and untrusted");
    r.tlsErrors = {QStringLiteral("The certificate is self-signed, and untrusted"),
                   QStringLiteral("The host name did not match any of the valid hosts for this certificate")};
    const Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), QStringLiteral("transport"));
    QVERIFY(!o.retryable);
    QCOMPARE(o.message,
             QStringLiteral("TLS: the server's certificate is not trusted: The certificate is "
                            "self-signed, and untrusted; The host name did not match any of the valid "
                            "hosts for this certificate (set the endpoint's ca_file to trust its CA)"));
    r.tlsErrors.clear(); // a handshake that failed for another reason (protocol, cipher)
    const Outcome other = Classifier::classify(r);
    QVERIFY(!other.retryable);
    QCOMPARE(
        other.message,
        QStringLiteral("TLS: handshake failed: SSL handshake failed: The certificate is self-signed, and "
                       "untrusted"));
}

void tst_Classifier::refusedAfterReconnectsSaysSo()
{
    AttemptReport r;
    r.networkError = QNetworkReply::ConnectionRefusedError;
    r.networkErrorString = QStringLiteral("Connection refused");
    QCOMPARE(Classifier::classify(r).message, QStringLiteral("transport: Connection refused"));
    r.reconnects = 4;
    const Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), QStringLiteral("transport"));
    QVERIFY(o.retryable);
    QCOMPARE(o.message,
             QStringLiteral("transport: Connection refused (the server answered earlier in the run; "
                            "still refused after 4 more tries)"));
}

void tst_Classifier::setupErrorIsFinal()
{
    AttemptReport r;
    r.setupError = QStringLiteral("proxy: https_proxy=https://p:1 cannot be used");
    r.networkError = QNetworkReply::OperationCanceledError;
    const Outcome o = Classifier::classify(r);
    QCOMPARE(toString(o.cls), QStringLiteral("transport"));
    QVERIFY(!o.retryable);
    QCOMPARE(o.message, r.setupError);
}

QTEST_APPLESS_MAIN(tst_Classifier)
#include "tst_classifier.moc"
