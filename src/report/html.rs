//! The demo report as one self-contained HTML page: per channel, an SVG chart of messages per minute
//! with spikes shaded red, recommended ad breaks in green and subs per 5 minutes as purple bars,
//! followed by the spikes and ad slots in words. No scripts, no external files.

use std::fmt::Write;

use super::{ChannelReport, Report};
use crate::time::civil::format_timestamp_ms;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const PAD: f64 = 40.0;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn clock(ms: i64) -> String {
    let t = format_timestamp_ms(ms);
    t.get(11..16).unwrap_or(&t).to_owned()
}

/// The chart of one channel.
fn chart(c: &ChannelReport) -> String {
    let mut svg = String::new();
    let (Some(first), Some(last)) = (c.minutes.first(), c.minutes.last()) else {
        return "<p>No chat minutes.</p>".into();
    };
    let (t0, t1) = (
        first.start_ms,
        (last.start_ms + 60_000).max(first.start_ms + 60_000),
    );
    let max = c
        .minutes
        .iter()
        .map(|m| m.messages)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_subs = c.subs_5m.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
    let x = |ms: i64| PAD + (ms - t0) as f64 / (t1 - t0) as f64 * (WIDTH - 2.0 * PAD);
    let y = |n: f64| HEIGHT - PAD - n / max * (HEIGHT - 2.0 * PAD);
    let _ = write!(
        svg,
        r##"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">"##
    );
    for s in &c.spikes {
        let (a, b) = (x(s.onset_ms), x(s.end_ms.max(s.onset_ms + 5_000)));
        let _ = write!(
            svg,
            r##"<rect class="spike" x="{a:.1}" y="{PAD}" width="{:.1}" height="{:.1}" fill="#e5484d" fill-opacity="0.25"><title>{}</title></rect>"##,
            (b - a).max(2.0),
            HEIGHT - 2.0 * PAD,
            escape(&s.description)
        );
    }
    for (start, total) in &c.subs_5m {
        let h = *total as f64 / max_subs * 40.0;
        let _ = write!(
            svg,
            r##"<rect class="subs" x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#8e4ec6" fill-opacity="0.6"><title>{total} subs from {} UTC</title></rect>"##,
            x(*start),
            HEIGHT - PAD - h,
            (x(start + 300_000) - x(*start) - 1.0).max(1.0),
            clock(*start)
        );
    }
    let points: Vec<String> = c
        .minutes
        .iter()
        .map(|m| format!("{:.1},{:.1}", x(m.start_ms + 30_000), y(m.messages as f64)))
        .collect();
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="#0b68cb" stroke-width="2" points="{}"/>"##,
        points.join(" ")
    );
    for s in &c.slots {
        let _ = write!(
            svg,
            r##"<line class="slot" x1="{0:.1}" x2="{0:.1}" y1="{PAD}" y2="{1:.1}" stroke="#30a46c" stroke-width="3"><title>{2}</title></line>"##,
            x(s.start_ms),
            HEIGHT - PAD,
            escape(&s.reason)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{PAD}" x2="{0}" y1="{1}" y2="{1}" stroke="#888"/><text x="{PAD}" y="{2}" font-size="12">{3} UTC</text><text x="{4}" y="{2}" font-size="12" text-anchor="end">{5} UTC</text><text x="4" y="{6}" font-size="12">{7}/min</text></svg>"##,
        WIDTH - PAD,
        HEIGHT - PAD,
        HEIGHT - PAD + 18.0,
        clock(t0),
        WIDTH - PAD,
        clock(t1),
        PAD - 8.0,
        max as i64
    );
    svg
}

/// The whole page; `summary` is printed above the charts.
pub fn render(report: &Report, title: &str, summary: &str) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}}\
         .legend span{{margin-right:1.5em}}li{{margin:.3em 0}}pre{{background:#f4f4f4;padding:1em;white-space:pre-wrap}}</style>\
         </head><body><h1>{0}</h1><pre>{1}</pre>\
         <p class=\"legend\"><span style=\"color:#0b68cb\">&#9644; messages per minute</span>\
         <span style=\"color:#e5484d\">&#9632; chat spike</span><span style=\"color:#8e4ec6\">&#9632; subs per 5 min</span>\
         <span style=\"color:#30a46c\">| recommended ad break</span></p>",
        escape(title),
        escape(summary)
    );
    for (name, c) in &report.channels {
        let _ = write!(h, "<section><h2>#{}</h2>{}", escape(name), chart(c));
        if !c.spikes.is_empty() {
            h.push_str("<h3>Chat spikes</h3><ul>");
            for s in &c.spikes {
                let _ = write!(h, "<li>{}</li>", escape(&s.description));
            }
            h.push_str("</ul>");
        }
        if !c.slots.is_empty() {
            h.push_str("<h3>Recommended ad breaks</h3><ul>");
            for s in &c.slots {
                let _ = write!(
                    h,
                    "<li><b>{} UTC, {} s</b> (score {:.2}): {}</li>",
                    clock(s.start_ms),
                    s.duration_s,
                    s.score,
                    escape(&s.reason)
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{MinutePoint, SlotMark, SpikeMark};

    #[test]
    fn the_page_has_a_chart_per_channel_with_spikes_and_slots_escaped() {
        let mut r = Report::default();
        let c = r.channels.entry("nl".into()).or_default();
        for i in 0..10 {
            c.minutes.push(MinutePoint {
                start_ms: i * 60_000,
                messages: 10 + i,
                chatters: 5,
            });
        }
        c.spikes.push(SpikeMark {
            onset_ms: 120_000,
            end_ms: 180_000,
            peak_rate: 50.0,
            description: "a <b> spike".into(),
        });
        c.slots.push(SlotMark {
            start_ms: 480_000,
            duration_s: 90,
            score: 0.8,
            reason: "Chat is calm & quiet.".into(),
        });
        let page = render(&r, "demo", "1 channel");
        assert!(page.starts_with("<!doctype html>") && page.ends_with("</html>\n"));
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(page.matches("class=\"spike\"").count(), 1);
        assert_eq!(page.matches("class=\"slot\"").count(), 1);
        assert!(page.contains("a &lt;b&gt; spike") && !page.contains("a <b> spike"));
        assert!(page.contains("Chat is calm &amp; quiet."));
    }
}
