// Anchor so the support library is never empty.
namespace resec::testing {}
