"""Start the emulators and the dispatcher together, for the acceptance suite and rod demo."""
