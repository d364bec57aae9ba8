//! A calendar date and the `strftime` subset chat templates use for "Today Date: 26 Jul 2024".

/// A day of the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl Date {
    /// `None` unless `month` is 1..=12 and `day` exists in that month.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days).contains(&day).then_some(Date { year, month, day })
    }

    /// 0 = Monday (Sakamoto's method).
    fn weekday(self) -> usize {
        const OFFSETS: [i32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
        let y = if self.month < 3 { self.year - 1 } else { self.year };
        let sunday_based = (y + y.div_euclid(4) - y.div_euclid(100)
            + y.div_euclid(400)
            + OFFSETS[usize::from(self.month - 1)]
            + i32::from(self.day))
        .rem_euclid(7);
        ((sunday_based + 6) % 7) as usize
    }

    /// Formats like C's `strftime` in the C locale, for `%d %e %m %y %Y %b %B %h %a %A %%`.
    pub fn format(self, format: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let month = MONTHS[usize::from(self.month - 1)];
            let weekday = WEEKDAYS[self.weekday()];
            match chars.next() {
                Some('d') => out.push_str(&format!("{:02}", self.day)),
                Some('e') => out.push_str(&format!("{:2}", self.day)),
                Some('m') => out.push_str(&format!("{:02}", self.month)),
                Some('y') => out.push_str(&format!("{:02}", self.year.rem_euclid(100))),
                Some('Y') => out.push_str(&self.year.to_string()),
                Some('b' | 'h') => out.push_str(&month[..3]),
                Some('B') => out.push_str(month),
                Some('a') => out.push_str(&weekday[..3]),
                Some('A') => out.push_str(weekday),
                Some('%') => out.push('%'),
                Some(other) => return Err(format!("strftime_now: unsupported directive %{other}")),
                None => return Err("strftime_now: format ends in %".into()),
            }
        }
        Ok(out)
    }
}
