//! The UI tests' harness: a window on Slint's headless testing backend over a session
//! worker, driven by accessible labels as a finger would (tap, type, keypad), with the
//! checks every screen gets (finger-sized buttons inside the window) and, with
//! `BONUSKASSA_SCREENSHOTS=<dir>`, a picture of each screen.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use bonuskassa::checkout::{Action, Outcome};
use bonuskassa::runner::Runner;
use bonuskassa::ui::AppWindow;
use i_slint_backend_testing::{
    AccessibleRole, ElementHandle, ElementRoot, TestingBackend, TestingBackendOptions,
};
use slint::{ComponentHandle, PhysicalSize, Rgba8Pixel, SharedPixelBuffer};

/// What the panel says while the register pays and prints an applied receipt.
pub const AT_REGISTER: &str =
    "Касса принимает оплату и печатает чек. Бонусы будут проведены, когда касса подтвердит печать.";

/// Makes the headless testing backend (software renderer, mock time, a worker thread may
/// post to its event loop) this thread's Slint platform. Once per process: the backend's
/// event loop proxy (what lets a worker thread post) is process-wide. A binary with more
/// than one such test runs them all through [`on_slint_thread`].
pub fn headless() {
    slint::platform::set_platform(Box::new(TestingBackend::new(TestingBackendOptions {
        mock_time: true,
        threading: true,
        renderer_name: Some("software".into()),
    })))
    .expect("the only Slint platform of this test binary");
}

type SlintJob = Box<dyn FnOnce() + Send>;
type SlintAnswer = std::thread::Result<()>;

/// Runs `test` on the one thread of this process whose Slint platform is [`headless`], one
/// test at a time, and fails as `test` did. Slint allows one platform with an event loop
/// proxy per process, and a platform belongs to the thread that set it; the test harness
/// runs each test on a thread of its own, so the tests that need that platform hand their
/// body to this thread instead.
pub fn on_slint_thread(test: impl FnOnce() + Send + 'static) {
    use std::sync::OnceLock;
    use std::sync::mpsc::{Sender, channel};
    static SLINT: OnceLock<Sender<(SlintJob, Sender<SlintAnswer>)>> = OnceLock::new();
    let jobs = SLINT.get_or_init(|| {
        let (jobs, inbox) = channel::<(SlintJob, Sender<SlintAnswer>)>();
        std::thread::Builder::new()
            .name("slint".into())
            .spawn(move || {
                headless();
                for (job, answer) in inbox {
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    let _ = answer.send(result);
                }
            })
            .expect("the Slint thread starts");
        jobs
    });
    let (answer, answered) = channel();
    jobs.send((Box::new(test), answer))
        .expect("the Slint thread takes tests");
    if let Err(panic) = answered.recv().expect("the Slint thread answers") {
        // The message was printed on the Slint thread, whose output the harness gives to
        // whichever test started that thread: say it again in this test's failure.
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(a panic without a message)");
        panic!("on the Slint thread: {message}");
    }
}

/// The window, the session behind it, and where pictures go (if anywhere).
pub struct Till {
    pub window: AppWindow,
    pub handle: Runner,
    pub screenshots: Option<std::path::PathBuf>,
    /// The start of every picture's file name (`session_`, `setup_`).
    pub prefix: &'static str,
    /// The pages scroll (the setup): a button below the fold is in reach by scrolling, so
    /// only its width has to fit the window.
    pub scrolls: bool,
}

impl Till {
    /// The checkout window of an enrolled `terminal` (Russian, 800×600), on the headless
    /// backend this test binary chose with [`headless`].
    pub fn session(
        terminal: std::sync::Arc<bonuskassa::terminal::Terminal>,
        clock: std::sync::Arc<dyn bonuskassa::clock::Clock>,
        prefix: &'static str,
    ) -> Till {
        let (window, handle) = bonuskassa::ui::build_session_window(
            &bonuskassa::ui::UiOptions {
                language: bonuskassa::ui::Language::Ru,
                ..Default::default()
            },
            terminal,
            clock,
        )
        .expect("the session window builds");
        Till::new(window, handle, prefix, false)
    }

    /// The checkout window of a till enrolled on `rig`'s server, its sync running and its
    /// cache holding the demo customers. `rt` enrols it and reads the demo SMS inbox; it
    /// must live as long as the walk, since the till's HTTP connections were made on it.
    pub fn enrolled(
        rig: &super::Rig,
        rt: &tokio::runtime::Runtime,
        prefix: &'static str,
    ) -> (Till, std::sync::Arc<bonuskassa::terminal::Terminal>) {
        let clock: std::sync::Arc<dyn bonuskassa::clock::Clock> =
            std::sync::Arc::new(bonuskassa::clock::SystemClock);
        let terminal = rt.block_on(rig.enroll(clock.clone()));
        terminal.start_sync(super::quick_sync()).unwrap();
        rt.block_on(super::wait_for(&terminal, "the cache", |s| {
            s.cached_customers == 4
        }));
        let terminal = std::sync::Arc::new(terminal);
        (Till::session(terminal.clone(), clock, prefix), terminal)
    }

    /// The installer's setup window of a till never enrolled in `rig`'s data dir
    /// (Russian, 800×600), its pictures named `setup_…`.
    pub fn setup(rig: &super::Rig) -> Till {
        let clock: std::sync::Arc<dyn bonuskassa::clock::Clock> =
            std::sync::Arc::new(bonuskassa::clock::SystemClock);
        let setup = bonuskassa::setup::Setup::new(&rig.till_data, clock.clone(), rig.opener());
        let (window, handle) = bonuskassa::ui::build_setup_window(
            &bonuskassa::ui::UiOptions {
                language: bonuskassa::ui::Language::Ru,
                ..Default::default()
            },
            setup,
            clock,
            rig.opener(),
        )
        .expect("the setup window builds");
        Till::new(window, handle, "setup_", true)
    }

    /// A till window shown at 800×600, with pictures named `{prefix}{screen}.png` when
    /// `BONUSKASSA_SCREENSHOTS` names a directory.
    pub fn new(window: AppWindow, handle: Runner, prefix: &'static str, scrolls: bool) -> Till {
        window.window().set_size(small());
        window.show().expect("the headless window shows");
        let till = Till {
            window,
            handle,
            screenshots: std::env::var_os("BONUSKASSA_SCREENSHOTS").map(Into::into),
            prefix,
            scrolls,
        };
        till.settle();
        till
    }

    /// Runs the event loop until every view the worker posted is shown.
    pub fn pump(&self) {
        slint::quit_event_loop().expect("the testing backend has an event loop");
        slint::run_event_loop().expect("the event loop runs");
        i_slint_backend_testing::mock_elapsed_time(Duration::from_millis(16));
    }

    /// Waits until the session has done every action sent, and shows its view.
    pub fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            self.pump();
            if self.handle.is_idle() {
                self.pump();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the session did not answer; visible: {:?}",
                self.labels()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Runs the window until a text starting with `text` shows, for what arrives from
    /// outside the event loop (a scan, a receipt through the bridge).
    pub fn wait_to_show(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.shows_starting(text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} never showed; visible: {:?}",
                self.labels()
            );
            self.settle();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn labels(&self) -> Vec<String> {
        labels(&self.window)
    }

    pub fn shows(&self, text: &str) -> bool {
        self.labels().iter().any(|l| l == text)
    }

    pub fn shows_starting(&self, prefix: &str) -> bool {
        self.labels().iter().any(|l| l.starts_with(prefix))
    }

    pub fn expect(&self, text: &str) {
        assert!(
            self.shows(text),
            "missing {text:?}; visible: {:?}",
            self.labels()
        );
    }

    pub fn expect_starting(&self, prefix: &str) {
        assert!(
            self.shows_starting(prefix),
            "nothing starts with {prefix:?}; visible: {:?}",
            self.labels()
        );
    }

    /// The value shown on the right of a caption (a `ValueRow`: the caption's text is
    /// followed by its value in the element tree).
    pub fn value_of(&self, caption: &str) -> String {
        let labels = self.labels();
        let i = labels
            .iter()
            .position(|l| l == caption)
            .unwrap_or_else(|| panic!("no {caption:?}; visible: {labels:?}"));
        labels
            .get(i + 1)
            .unwrap_or_else(|| panic!("nothing after {caption:?}"))
            .clone()
    }

    pub fn element(&self, label: &str, role: AccessibleRole) -> ElementHandle {
        let mut found = ElementHandle::find_by_accessible_label(&self.window, label)
            .filter(|e| e.accessible_role() == Some(role));
        let e = found.next().unwrap_or_else(|| {
            panic!(
                "no {role:?} labelled {label:?}; visible: {:?}",
                self.labels()
            )
        });
        assert!(
            found.next().is_none(),
            "more than one {role:?} labelled {label:?}"
        );
        e
    }

    /// The register hands over `receipt`; the cashier finds the customer by the phone typed
    /// (`digits`) and their card opens.
    pub fn open_card(&self, receipt: bonuskassa::domain::receipt::Receipt, digits: &str) {
        self.handle.open_receipt(receipt);
        self.settle();
        self.type_into("Телефон клиента", digits);
        self.tap("Найти");
        self.expect("Баланс");
    }

    /// Taps a button and waits for the session's answer.
    pub fn tap(&self, caption: &str) {
        self.element(caption, AccessibleRole::Button)
            .invoke_accessible_default_action();
        self.settle();
    }

    pub fn keys(&self, digits: &str) {
        for d in digits.chars() {
            self.tap(&d.to_string());
        }
    }

    pub fn field(&self, label: &str) -> ElementHandle {
        self.element(label, AccessibleRole::TextInput)
    }

    pub fn type_into(&self, label: &str, text: &str) {
        self.field(label).set_accessible_value(text);
        self.settle();
    }

    /// What the register ends with for its receipt. The harness plays the register: an
    /// applied receipt is printed as given and closed at once (which queues it), so this
    /// returns the closed sale or return, or the cancellation.
    pub fn outcome(&self) -> Outcome {
        let outcome = self
            .handle
            .try_outcome()
            .expect("an outcome for the register");
        let Outcome::Applied(applied) = outcome else {
            return outcome;
        };
        self.handle.act(Action::Close {
            receipt_id: applied.receipt.id.clone(),
            printed: applied.receipt.clone(),
            fiscal: None,
        });
        self.settle();
        let closed = self
            .handle
            .try_outcome()
            .expect("the closed receipt's outcome");
        match &closed {
            Outcome::Sale { operation, .. } | Outcome::Return { operation, .. } => {
                assert_eq!(operation.id, applied.operation_id.to_string());
            }
            other => panic!("the close was refused: {other:?}"),
        }
        closed
    }

    /// Every finger target (a button, a key, a check box) is at least 48 px each way and
    /// inside the window, at each size the till is made for ([`sizes`]); the window is
    /// then back at the size it had. The window changes size where it is, so each screen a
    /// walk visits is checked at every size without walking again.
    pub fn check_buttons(&self, screen: &str) {
        self.check_buttons_at_sizes(screen, &sizes());
    }

    /// At each of `sizes` the targets are found anew: only those in view count, and on a
    /// page that scrolls (the keyboard open) which are in view depends on the size.
    pub fn check_buttons_at_sizes(&self, screen: &str, sizes: &[PhysicalSize]) {
        let shown = self.window.window().size();
        // The size the window has comes last, so that it ends there without laying the
        // window out once more.
        let mut order: Vec<PhysicalSize> = sizes.iter().copied().filter(|&s| s != shown).collect();
        let ends_shown = order.len() < sizes.len();
        if ends_shown {
            order.push(shown);
        }
        for size in order {
            self.resize(size);
            // Whatever a finger taps: the buttons, the keys, the check boxes.
            let targets = self
                .window
                .root_element()
                .query_descendants()
                .match_predicate(|e| {
                    matches!(
                        e.accessible_role(),
                        Some(AccessibleRole::Button | AccessibleRole::Checkbox)
                    )
                })
                .find_all()
                .into_iter();
            let at = format!("{screen} at {}×{}", size.width, size.height);
            check_targets(targets, &at, size, self.scrolls);
        }
        if !ends_shown {
            self.resize(shown);
        }
    }

    /// Gives the window `size` and lays it out again: the pages read the window's shape
    /// (`Theme.portrait`) through a change handler, which runs here.
    pub fn resize(&self, size: PhysicalSize) {
        self.window.window().set_size(size);
        slint::platform::update_timers_and_animations();
    }

    /// Checks the buttons and, when asked for pictures, writes this screen.
    pub fn picture(&self, name: &str) {
        self.check_buttons(name);
        self.write_picture(name);
    }

    /// Writes this screen as it is shown, when asked for pictures.
    fn write_picture(&self, name: &str) {
        let Some(dir) = &self.screenshots else {
            return;
        };
        self.pump();
        let shot = self
            .window
            .window()
            .take_snapshot()
            .expect("the software renderer draws");
        write_png(&dir.join(format!("{}{name}.png", self.prefix)), &shot);
    }

    /// The same screen in English, at 1280×800 and on the portrait terminal as well.
    pub fn pictures_in_both_languages(&self, name: &str) {
        self.picture(name);
        self.tap("English");
        self.picture(&format!("{name}_en"));
        self.tap("Русский");
        self.picture_at(large(), &format!("{name}_1280x800"));
        self.picture_at(portrait(), &format!("{name}_720x1280"));
    }

    /// The screen (checked at every size) at 800×600, and on the portrait terminal,
    /// `{name}_720x1280`.
    pub fn pictures_in_portrait(&self, name: &str) {
        self.picture(name);
        self.picture_at(portrait(), &format!("{name}_720x1280"));
    }

    /// A picture of the screen at `size`, when asked for pictures; the window is then
    /// back at the size it had. (Its buttons are checked at every size by [`Till::picture`].)
    pub fn picture_at(&self, size: PhysicalSize, name: &str) {
        if self.screenshots.is_none() {
            return;
        }
        let shown = self.window.window().size();
        self.resize(size);
        self.pump();
        self.write_picture(name);
        // Back, and the page laid out for that shape again before the walk goes on.
        self.resize(shown);
        self.pump();
    }
}

/// Each target is at least 48 px each way and inside the window of `size` (only across
/// it, when the page `scrolls`).
pub fn check_targets(
    targets: impl Iterator<Item = ElementHandle>,
    at: &str,
    size: PhysicalSize,
    scrolls: bool,
) {
    for b in targets {
        let (pos, sz) = (b.absolute_position(), b.size());
        let label = b.accessible_label().unwrap_or_default();
        assert!(
            sz.height >= 48.0 && sz.width >= 48.0,
            "{at}: {label} is {}×{}px, less than a finger",
            sz.width,
            sz.height
        );
        let fits_down = scrolls || (pos.y >= 0.0 && pos.y + sz.height <= size.height as f32 + 0.5);
        assert!(
            pos.x >= 0.0 && pos.x + sz.width <= size.width as f32 + 0.5 && fits_down,
            "{at}: {label} at {pos:?} {sz:?} leaves the window"
        );
    }
}

/// The accessible labels of every visible element, in tree order.
pub fn labels(window: &AppWindow) -> Vec<String> {
    window
        .root_element()
        .query_descendants()
        .find_all()
        .into_iter()
        .filter_map(|e| e.accessible_label())
        .filter(|l| !l.is_empty())
        .map(|l| l.to_string())
        .collect()
}

/// The sizes the till is made for: the 5.5" Evotor-class terminal in portrait, and the
/// landscape ones from the smallest to the common till.
pub fn sizes() -> [PhysicalSize; 4] {
    [portrait(), small(), wide(), large()]
}

/// A 5.5" 720×1280 terminal, held upright: the most common Evotor-class screen.
pub fn portrait() -> PhysicalSize {
    PhysicalSize::new(720, 1280)
}

pub fn small() -> PhysicalSize {
    PhysicalSize::new(800, 600)
}

/// A 7" 1024×600 terminal.
pub fn wide() -> PhysicalSize {
    PhysicalSize::new(1024, 600)
}

pub fn large() -> PhysicalSize {
    PhysicalSize::new(1280, 800)
}

pub fn write_png(path: &Path, shot: &SharedPixelBuffer<Rgba8Pixel>) {
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), shot.width(), shot.height());
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("png header");
    writer.write_image_data(shot.as_bytes()).expect("png data");
    writer.finish().expect("png end");
}
