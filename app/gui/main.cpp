// sluice: the desktop application.

#include "charts/livecharts.h"
#include "mainwindow.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QTimer>

#include <algorithm>

#include <cstdio>

int main(int argc, char *argv[])
{
    // The window's thread keeps GLib's event loop (platform themes and their dialogs may need it); the
    // engine's, the transport's and QNAM's threads run Qt's own poll() loop, as in sluice-cli, which
    // moves about a third more requests per second there. A value set by the caller wins.
    if (!qEnvironmentVariableIsSet("QT_NO_THREADED_GLIB")) {
        qputenv("QT_NO_THREADED_GLIB", "1");
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("Sluice"));
    QApplication::setOrganizationName(QStringLiteral("Sluice"));
    QApplication::setApplicationVersion(QStringLiteral(SLUICE_VERSION));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/sluice/icon.svg")));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Sluice: push large batches of LLM API requests through "
                                                    "rate-limited endpoints."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption renderChart(
        QStringLiteral("render-chart"),
        QStringLiteral("Draw the charts of an exported per-second history CSV to "
                       "--out as PNG, without showing a window."),
        QStringLiteral("history.csv"));
    const QCommandLineOption out(QStringLiteral("out"), QStringLiteral("PNG file for --render-chart."),
                                 QStringLiteral("chart.png"));
    const QCommandLineOption size(QStringLiteral("size"),
                                  QStringLiteral("Image size for --render-chart (1400x1000)."),
                                  QStringLiteral("WxH"), QStringLiteral("1400x1000"));
    const QCommandLineOption project(QStringLiteral("project"), QStringLiteral("Open this project."),
                                     QStringLiteral("file"));
    const QCommandLineOption tryIt(
        QStringLiteral("try-it"), QStringLiteral("Start the demo run against built-in simulated endpoints."));
    const QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Save a picture of the window to this PNG and quit: when the "
                       "run finishes, or after --screenshot-after seconds."),
        QStringLiteral("file.png"));
    const QCommandLineOption screenshotAfter(QStringLiteral("screenshot-after"),
                                             QStringLiteral("Seconds after start for --screenshot."),
                                             QStringLiteral("s"));
    const QCommandLineOption screenshotTab(
        QStringLiteral("tab"),
        QStringLiteral("With --screenshot: the tab shown in the picture (charts, summary, records, errors, "
                       "invalid, log); default: the one the window shows."),
        QStringLiteral("name"));
    const QCommandLineOption chartView(QStringLiteral("chart-view"),
                                       QStringLiteral("The charts' view: overview or per-endpoint."),
                                       QStringLiteral("view"));
    const QCommandLineOption runNow(QStringLiteral("run"),
                                    QStringLiteral("Start the run as soon as the request file is read."));
    const QCommandLineOption quitWhenDone(QStringLiteral("quit-when-done"),
                                          QStringLiteral("Quit when the run finishes (exit 0 if every line "
                                                         "succeeded, else 1)."));
    const QCommandLineOption measureStall(
        QStringLiteral("measure-stall"),
        QStringLiteral("Report the GUI thread's longest event-loop stall and the "
                       "run's rate on stderr when the run finishes."));
    const QCommandLineOption resumeRun(
        QStringLiteral("resume"),
        QStringLiteral("With --run: continue the interrupted run recorded beside the results."));
    const QCommandLineOption retryErrors(
        QStringLiteral("retry-errors"),
        QStringLiteral("With --run: continue the interrupted run and send its failed lines again."));
    const QCommandLineOption overwrite(
        QStringLiteral("overwrite"),
        QStringLiteral("With --run: replace results that hold an interrupted run."));
    parser.addOptions({renderChart, out, size, project, tryIt, screenshot, screenshotAfter, screenshotTab,
                       chartView, runNow, quitWhenDone, measureStall, resumeRun, retryErrors, overwrite});
    parser.addPositionalArgument(QStringLiteral("requests"), QStringLiteral("A JSONL request file to open."),
                                 QStringLiteral("[requests.jsonl]"));
    parser.process(app);

    if (parser.isSet(renderChart)) {
        const QStringList wh = parser.value(size).split(QLatin1Char('x'));
        const QSize imageSize(wh.value(0).toInt(), wh.value(1).toInt());
        if (!parser.isSet(out) || imageSize.width() < 200 || imageSize.height() < 200) {
            std::fprintf(stderr,
                         "sluice: --render-chart needs --out FILE.png and a --size of at least 200x200\n");
            return 2;
        }
        QString error;
        const auto history = Sluice::Gui::LiveCharts::readHistoryCsv(parser.value(renderChart), &error);
        if (!error.isEmpty()) {
            std::fprintf(stderr, "sluice: %s\n", qPrintable(error));
            return 2;
        }
        Sluice::Gui::LiveCharts charts;
        charts.setHistory(history);
        charts.setWindow(Sluice::Gui::LiveCharts::Window::WholeRun);
        if (!charts.render(imageSize).save(parser.value(out), "PNG")) {
            std::fprintf(stderr, "sluice: cannot write %s\n", qPrintable(parser.value(out)));
            return 1;
        }
        return 0;
    }

    Sluice::Gui::MainWindow window;
    if (parser.isSet(project)) {
        window.openProject(parser.value(project));
    }
    if (!parser.positionalArguments().isEmpty()) {
        window.openRequests(parser.positionalArguments().first());
    }
    window.show();
    if (parser.isSet(chartView)) {
        window.charts()->setView(parser.value(chartView) == QLatin1String("per-endpoint")
                                     ? Sluice::Gui::LiveCharts::View::PerEndpoint
                                     : Sluice::Gui::LiveCharts::View::Overview);
    }
    if (parser.isSet(screenshot)) {
        const QString path = parser.value(screenshot);
        const QStringList tabs = {QStringLiteral("charts"),  QStringLiteral("summary"),
                                  QStringLiteral("records"), QStringLiteral("errors"),
                                  QStringLiteral("invalid"), QStringLiteral("log")};
        const int tab = parser.isSet(screenshotTab) ? int(tabs.indexOf(parser.value(screenshotTab))) : -1;
        if (parser.isSet(screenshotTab) && tab < 0) {
            std::fprintf(stderr, "sluice: --tab is one of %s\n", qPrintable(tabs.join(QStringLiteral(", "))));
            return 2;
        }
        const auto shoot = [&window, &app, path, tab] {
            if (tab >= 0) {
                window.showTab(Sluice::Gui::MainWindow::Tab(tab));
                QApplication::processEvents();
            }
            const bool saved = window.grab().save(path, "PNG");
            std::fprintf(stderr, saved ? "sluice: saved %s\n" : "sluice: cannot write %s\n",
                         qPrintable(path));
            app.exit(saved ? 0 : 1);
        };
        if (parser.isSet(screenshotAfter)) {
            QTimer::singleShot(int(parser.value(screenshotAfter).toDouble() * 1000), &window, shoot);
        } else {
            QObject::connect(&window, &Sluice::Gui::MainWindow::runFinished, &window,
                             [shoot] { QTimer::singleShot(800, shoot); });
        }
    }
    // A 2 ms heartbeat on the GUI thread: any gap beyond it is time the event loop was not turning.
    QElapsedTimer sinceBeat;
    double longestStallMs = 0;
    QTimer heartbeat;
    if (parser.isSet(measureStall)) {
        heartbeat.setTimerType(Qt::PreciseTimer);
        heartbeat.setInterval(2);
        QObject::connect(&heartbeat, &QTimer::timeout, &window, [&] {
            if (sinceBeat.isValid()) {
                const double stall = double(sinceBeat.nsecsElapsed()) / 1e6 - 2.0;
                if (qEnvironmentVariableIsSet("SLUICE_STALL_TRACE") && stall > 15) {
                    std::fprintf(stderr, "stall %.1f ms at run state %s, %lld done\n", stall,
                                 qPrintable(Sluice::toString(window.runState())),
                                 window.lastSnapshot().done());
                }
                longestStallMs = std::max(longestStallMs, stall);
            }
            sinceBeat.restart();
        });
        heartbeat.start();
    }
    QObject::connect(&window, &Sluice::Gui::MainWindow::runFinished, &window, [&] {
        const Sluice::MetricsSnapshot &s = window.lastSnapshot();
        if (parser.isSet(measureStall)) {
            std::fprintf(
                stderr,
                "sluice: %lld requests in %.1f s (%.0f req/s); longest GUI event-loop stall %.1f ms\n",
                s.done(), s.elapsedMs / 1000.0, s.averageRps, longestStallMs);
        }
        if (parser.isSet(quitWhenDone)) {
            app.exit(s.failed > 0 ? 1 : 0);
        }
    });
    if (parser.isSet(runNow)) {
        // Nobody is at the window: never a dialog. Without one of these options an interrupted run
        // is left alone, as sluice-cli does.
        using U = Sluice::Gui::MainWindow::Unattended;
        window.setUnattended(parser.isSet(resumeRun)     ? U::Resume
                             : parser.isSet(retryErrors) ? U::RetryErrors
                             : parser.isSet(overwrite)   ? U::StartOver
                                                         : U::Refuse);
        QObject::connect(&window, &Sluice::Gui::MainWindow::runRefused, &window, [&](const QString &reason) {
            std::fprintf(stderr, "sluice: %s\n", qPrintable(reason));
            if (parser.isSet(quitWhenDone)) {
                app.exit(2);
            }
        });
        QObject::connect(
            &window, &Sluice::Gui::MainWindow::preflightFinished, &window, [&window] { window.run(); },
            Qt::SingleShotConnection);
    }
    if (parser.isSet(tryIt)) {
        QTimer::singleShot(0, &window, &Sluice::Gui::MainWindow::tryIt);
    }
    return app.exec();
}
