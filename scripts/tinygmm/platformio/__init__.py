"""PlatformIO: ``hook`` (the library's build.extraScript: standard library only on its no-change path) and
``config`` (the custom_gmm_* keys of platformio.ini as export arguments)."""
