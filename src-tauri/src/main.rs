// Hide the console window on Windows release builds; harmless elsewhere.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// Reports the engine version so the page can show which engine it talks to.
#[tauri::command]
fn engine_version() -> String {
    ferry::VERSION.to_string()
}

fn main() {
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![engine_version])
        .run(tauri::generate_context!());
    if let Err(err) = result {
        eprintln!("error FERRY-APP: the window could not start: {err}. Check that a display (or Xvfb) is available.");
        std::process::exit(1);
    }
}
